import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../../functions/lib/swarm/engine.js';
import {
  ensureNetwork,
  ensureObject,
  OBJECT_LABELS,
  pruneObjects,
  referencedObjects,
  removeObjectsOf,
} from '../../../functions/lib/swarm/objects.js';
import {
  demultiplex,
  preflight,
  promote,
  rollback,
  snapshot,
} from '../../../functions/lib/swarm/operations.js';
import {
  contentVersion,
  driftedParts,
  type ResolvedSpec,
  specParts,
} from '../../../functions/lib/swarm/spec.js';
import type { UpdatePolicy } from '../../../functions/lib/swarm/types.js';
import type { PushedImage } from '../../../local/fleet/demo-image.js';
import type { ClusterStatus, FleetStatus } from '../../../local/fleet/fleet.js';
import {
  dockerFor,
  fleet,
  pushDemo,
  registryAuth,
  removeServiceQuietly,
  uniqueTag,
  waitForRunning,
} from '../support/fleet.js';
import { engineFor, settle } from './support.js';

const SERVICE = 'ob-web';
const POLICY: UpdatePolicy = {
  parallelism: 0,
  delaySeconds: 0,
  monitorSeconds: 1,
  failureAction: 'pause',
  maxFailureRatio: 0,
  order: 'stop-first',
};

/** Every secret of the service on the cluster, by name. */
async function secretNames(docker: Docker): Promise<string[]> {
  const list = await docker.listSecrets({ filters: { label: [`${OBJECT_LABELS.of}=${SERVICE}`] } });
  return list.map((s) => s.Spec?.Name ?? '').sort();
}

/** What a running task of the service reads from a file (docker exec in one of its containers). */
async function readInTask(docker: Docker, file: string): Promise<string> {
  const [container] = await docker.listContainers({
    filters: { label: [`com.docker.swarm.service.name=${SERVICE}`], status: ['running'] },
  });
  if (!container) throw new Error(`no running container of ${SERVICE}`);
  const exec = await docker.getContainer(container.Id).exec({
    Cmd: ['cat', file],
    AttachStdout: true,
    AttachStderr: true,
  });
  const stream = await exec.start({ hijack: true, stdin: false });
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  // The exec stream is multiplexed (8-byte headers per frame) without a TTY.
  return demultiplex(Buffer.concat(chunks));
}

describe('secrets, configs and networks on a real engine', () => {
  let f: FleetStatus;
  let docker: Docker;
  let engine: Engine;
  let auth: string;
  let image: PushedImage;

  const cleanSecrets = async () => {
    for (const s of await docker.listSecrets({ filters: { label: [`${OBJECT_LABELS.of}=${SERVICE}`] } })) {
      await docker
        .getSecret(s.ID)
        .remove()
        .catch(() => {});
    }
    for (const c of await docker.listConfigs({ filters: { label: [`${OBJECT_LABELS.of}=${SERVICE}`] } })) {
      await docker
        .getConfig(c.ID)
        .remove()
        .catch(() => {});
    }
  };

  beforeAll(async () => {
    f = await fleet();
    const c1 = f.clusters[0] as ClusterStatus;
    docker = dockerFor(c1);
    engine = await engineFor(c1);
    auth = registryAuth(f);
    image = await pushDemo(f, { tag: uniqueTag('ob') });
    await removeServiceQuietly(docker, SERVICE);
    await cleanSecrets();
    await docker.createService(
      { base64: auth } as never,
      {
        Name: SERVICE,
        TaskTemplate: { ContainerSpec: { Image: image.digestReference, Env: ['GREETING=hello'] } },
        Mode: { Replicated: { Replicas: 1 } },
      } as never,
    );
    await waitForRunning(docker, SERVICE, 1);
  });

  afterAll(async () => {
    await removeServiceQuietly(docker, SERVICE);
    await cleanSecrets();
    for (const n of ['ob-net', 'ob-bridge', 'ob-secure'])
      await docker
        .getNetwork(n)
        .remove()
        .catch(() => {});
  });

  it('makes one secret per content, named by its hash, and finds it again on a retry', async () => {
    // Act
    const first = await ensureObject(engine, {
      kind: 'secret',
      service: SERVICE,
      deploymentId: 'd-1',
      name: 'db-password',
      content: Buffer.from('s3cret-one'),
    });
    const again = await ensureObject(engine, {
      kind: 'secret',
      service: SERVICE,
      deploymentId: 'd-2',
      name: 'db-password',
      content: Buffer.from('s3cret-one'),
    });
    // Assess
    expect(first).toMatchObject({ dockerName: `db-password-${contentVersion('s3cret-one')}`, created: true });
    expect(again).toEqual({ ...first, created: false });
    const inspected = await docker.getSecret(first.id).inspect();
    expect(inspected.Spec?.Labels).toEqual({
      [OBJECT_LABELS.of]: SERVICE,
      [OBJECT_LABELS.name]: 'db-password',
      'deployer.deployment': 'd-1',
    });
    // The engine never gives a secret's data back
    expect(JSON.stringify(inspected)).not.toContain(Buffer.from('s3cret-one').toString('base64'));
  });

  it('promotes with a new secret version mounted, rolls back to the old one and removes the new one, then prunes', async () => {
    // Prepare: version one in use, as a first deployment leaves it
    const put = (deploymentId: string, content: string) =>
      ensureObject(engine, {
        kind: 'secret',
        service: SERVICE,
        deploymentId,
        name: 'db-password',
        content: Buffer.from(content),
      });
    const config = await ensureObject(engine, {
      kind: 'config',
      service: SERVICE,
      deploymentId: 'd-1',
      name: 'app.conf',
      content: Buffer.from('level=info\n'),
    });
    const desired = (secret: { id: string; dockerName: string }, env: string): ResolvedSpec => ({
      env: { GREETING: env },
      secrets: [{ ...secret, target: 'db-password', uid: '0', gid: '0', mode: 0o444 }],
      configs: [{ ...config, target: '/etc/app.conf', uid: '0', gid: '0', mode: 0o444 }],
      resources: { limits: { memoryBytes: 96 * 2 ** 20 } },
    });
    const one = await put('d-1', 's3cret-one');
    let snap = await snapshot(engine, SERVICE);
    await promote(engine, {
      ref: { deploymentId: 'd-1', cluster: 'c1', service: SERVICE },
      snapshot: snap,
      image: image.digestReference,
      update: POLICY,
      registryAuth: auth,
      desired: desired(one, 'hello'),
    });
    expect(await settle(engine, { service: SERVICE, image: image.digestReference })).toMatchObject({
      verdict: 'converged',
    });
    expect(await readInTask(docker, '/run/secrets/db-password')).toBe('s3cret-one');
    expect(await readInTask(docker, '/etc/app.conf')).toBe('level=info\n');

    // Act: a second deployment brings version two, then is rolled back
    snap = await snapshot(engine, SERVICE);
    const two = await put('d-2', 's3cret-two');
    await promote(engine, {
      ref: { deploymentId: 'd-2', cluster: 'c1', service: SERVICE },
      snapshot: snap,
      image: image.digestReference,
      update: POLICY,
      registryAuth: auth,
      desired: desired(two, 'bonjour'),
    });
    expect(await settle(engine, { service: SERVICE, image: image.digestReference })).toMatchObject({
      verdict: 'converged',
    });
    expect(await readInTask(docker, '/run/secrets/db-password')).toBe('s3cret-two');
    expect(await secretNames(docker)).toEqual([one.dockerName, two.dockerName].sort());
    await rollback(engine, snap);
    const removed = await removeObjectsOf(engine, {
      service: SERVICE,
      deploymentId: 'd-2',
      keep: referencedObjects(snap.spec),
    });

    // Assess: version one back in the spec and in the running task, version two gone
    expect(removed).toEqual({ removed: [two.dockerName], kept: [] });
    expect(await secretNames(docker)).toEqual([one.dockerName]);
    expect(await settle(engine, { service: SERVICE, image: image.digestReference })).toMatchObject({
      verdict: 'converged',
    });
    expect(await readInTask(docker, '/run/secrets/db-password')).toBe('s3cret-one');

    // Act: a successful third deployment, then the clean-up prunes what the primary no longer uses
    snap = await snapshot(engine, SERVICE);
    const three = await put('d-3', 's3cret-three');
    await promote(engine, {
      ref: { deploymentId: 'd-3', cluster: 'c1', service: SERVICE },
      snapshot: snap,
      image: image.digestReference,
      update: POLICY,
      registryAuth: auth,
      desired: desired(three, 'bonjour'),
    });
    const live = await docker.getService(SERVICE).inspect();
    const pruned = await pruneObjects(engine, { service: SERVICE, keep: referencedObjects(live.Spec) });
    // Assess
    expect(pruned).toEqual({ removed: [one.dockerName], kept: [] });
    expect(await secretNames(docker)).toEqual([three.dockerName]);
  });

  it('hashes a spec the same way each time the engine reports it, and names the part changed by hand', async () => {
    // Prepare
    const before = (await docker.getService(SERVICE).inspect()) as {
      Version: { Index: number };
      Spec: { TaskTemplate: { ContainerSpec: { Env?: string[] } } };
    };
    const deployed = specParts(before.Spec as never);
    expect(specParts((await docker.getService(SERVICE).inspect()).Spec)).toEqual(deployed);
    // Act: someone adds a variable on the cluster
    const next = structuredClone(before.Spec);
    next.TaskTemplate.ContainerSpec.Env = [...(next.TaskTemplate.ContainerSpec.Env ?? []), 'DEBUG=1'];
    await docker.getService(SERVICE).update({ version: before.Version.Index, ...next } as never);
    // Assess
    const running = specParts((await docker.getService(SERVICE).inspect()).Spec);
    expect(driftedParts(deployed, running)).toEqual(['env']);
  });

  it('creates an overlay network once, and refuses one that exists with another driver', async () => {
    // Act
    const made = await ensureNetwork(engine, {
      name: 'ob-net',
      driver: 'overlay',
      encrypted: false,
      attachable: true,
      deploymentId: 'd-1',
    });
    const found = await ensureNetwork(engine, {
      name: 'ob-net',
      driver: 'overlay',
      encrypted: false,
      attachable: true,
      deploymentId: 'd-2',
    });
    await docker.createNetwork({ Name: 'ob-bridge', Driver: 'bridge' });
    // Assess
    expect(made.created).toBe(true);
    expect(found).toEqual({ id: made.id, created: false });
    expect((await docker.getNetwork('ob-net').inspect()).Scope).toBe('swarm');
    await expect(
      ensureNetwork(engine, {
        name: 'ob-bridge',
        driver: 'overlay',
        encrypted: false,
        attachable: false,
        deploymentId: 'd-1',
      }),
    ).rejects.toMatchObject({
      name: 'NetworkMismatchError',
      message:
        'cluster c1: network ob-bridge exists with driver bridge, the policy wants overlay; not replacing it',
    });
    await expect(
      ensureNetwork(engine, {
        name: 'ob-net',
        driver: 'overlay',
        encrypted: true,
        attachable: true,
        deploymentId: 'd-1',
      }),
    ).rejects.toMatchObject({ name: 'NetworkMismatchError', message: expect.stringMatching(/unencrypted/) });
    // An encrypted overlay is made with the driver option the engine reads (IPsec between nodes)
    const secure = await ensureNetwork(engine, {
      name: 'ob-secure',
      driver: 'overlay',
      encrypted: true,
      attachable: false,
      deploymentId: 'd-1',
    });
    expect((await docker.getNetwork(secure.id).inspect()).Options).toHaveProperty('encrypted');
  });

  it('refuses in preflight a network driver the engine does not have', async () => {
    await expect(
      preflight(engine, { service: SERVICE, minEngineVersion: '20.10.0', networkDrivers: ['overlay'] }),
    ).resolves.toMatchObject({ cluster: 'c1' });
    await expect(
      preflight(engine, { service: SERVICE, minEngineVersion: '20.10.0', networkDrivers: ['weave'] }),
    ).rejects.toMatchObject({
      name: 'NetworkMismatchError',
      message: expect.stringMatching(
        /^cluster c1: the engine has no network driver weave \(it has .*overlay/,
      ),
    });
  });
});
