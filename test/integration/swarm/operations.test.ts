import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../../functions/lib/swarm/engine.js';
import {
  canaryName,
  deployCanary,
  LABELS,
  preflight,
  progress,
  promote,
  removeCanary,
  rollback,
  snapshot,
  toUpdateConfig,
} from '../../../functions/lib/swarm/operations.js';
import type { DeploymentRef, ServiceSpec, UpdatePolicy } from '../../../functions/lib/swarm/types.js';
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
import {
  type Connection,
  connect,
  settle,
  startSessionManager,
  type Transport,
  taskStates,
} from './support.js';

const SERVICE = 'sw-web';
const NETWORK = 'sw-net';
const POLICY: UpdatePolicy = {
  parallelism: 0,
  delaySeconds: 0,
  monitorSeconds: 1,
  failureAction: 'pause',
  maxFailureRatio: 0,
  order: 'stop-first',
};
const ORIGINAL_UPDATE = {
  Parallelism: 1,
  FailureAction: 'pause',
  Monitor: 2_000_000_000,
  MaxFailureRatio: 0,
  Order: 'stop-first',
};
/** The engine omits a zero Delay (Go omitempty) when it reports a spec. */
const asReported = ({ Delay, ...rest }: { Delay?: number }) => (Delay ? { Delay, ...rest } : rest);

const TRANSPORTS: Transport[] = ['unix socket', 'SSM tunnel', 'SSM tunnel, mutual TLS'];

describe.each(TRANSPORTS)('swarm operations on a real engine, through the %s', (transport) => {
  let f: FleetStatus;
  let c1: ClusterStatus;
  let docker: Docker;
  let engine: Engine;
  let connection: Connection;
  let sessions: Awaited<ReturnType<typeof startSessionManager>> | undefined;
  let auth: string;
  let v1: PushedImage;
  let v2: PushedImage;
  const ref = (deploymentId: string): DeploymentRef => ({ deploymentId, cluster: 'c1', service: SERVICE });

  /** A primary as users run them: 3 replicas on an overlay network with an alias, labels, env, a config of its own. */
  async function resetPrimary(): Promise<void> {
    await removeServiceQuietly(docker, canaryName(SERVICE));
    await removeServiceQuietly(docker, SERVICE);
    await docker.createService(
      { base64: auth } as never,
      {
        Name: SERVICE,
        Labels: { 'deployer.scrape': 'true', team: 'payments' },
        TaskTemplate: {
          ContainerSpec: {
            Image: v1.digestReference,
            Env: ['GREETING=hello', 'TRAFFIC_RPS=1'],
            Labels: { tier: 'web' },
          },
          Networks: [{ Target: NETWORK, Aliases: ['web-alias'] }],
          Resources: { Limits: { MemoryBytes: 64 * 2 ** 20 } },
          Placement: { Constraints: ['node.role == manager'] },
          RestartPolicy: { Condition: 'any', Delay: 1_000_000_000 },
        },
        Mode: { Replicated: { Replicas: 3 } },
        UpdateConfig: ORIGINAL_UPDATE,
        EndpointSpec: { Mode: 'dnsrr', Ports: [{ Protocol: 'tcp', TargetPort: 8080, PublishMode: 'host' }] },
      } as never,
    );
    await waitForRunning(docker, SERVICE, 3);
  }

  beforeAll(async () => {
    f = await fleet();
    c1 = f.clusters[0] as ClusterStatus;
    docker = dockerFor(c1);
    if (transport !== 'unix socket') sessions = await startSessionManager(f);
    connection = await connect(transport, f, c1, sessions?.ssm);
    engine = connection.engine;
    auth = registryAuth(f);
    [v1, v2] = await Promise.all([
      pushDemo(f, { tag: uniqueTag('sw1') }),
      pushDemo(f, { tag: uniqueTag('sw2') }),
    ]);
    const nets = await docker.listNetworks({ filters: { name: [NETWORK] } });
    if (!nets.some((n) => n.Name === NETWORK))
      await docker.createNetwork({ Name: NETWORK, Driver: 'overlay', Attachable: true });
  });

  afterAll(async () => {
    await removeServiceQuietly(docker, canaryName(SERVICE));
    await removeServiceQuietly(docker, SERVICE);
    await connection?.close();
    await sessions?.stop();
  });

  it('negotiates the API version and passes preflight on a healthy manager', async () => {
    await resetPrimary();
    const result = await preflight(engine, { service: SERVICE, minEngineVersion: '20.10.0' });
    expect(result).toMatchObject({
      cluster: 'c1',
      apiVersion: '1.41',
      readyNodes: 1,
      requiredNodes: 1,
      replicas: 3,
    });
    expect(result.engineVersion).toMatch(/^20\.10\./);
  });

  it('fails preflight for an engine older than the configured minimum, and for a missing service', async () => {
    await expect(preflight(engine, { service: SERVICE, minEngineVersion: '24.0.0' })).rejects.toMatchObject({
      name: 'EngineVersionError',
      message: expect.stringMatching(
        /cluster c1: engine 20\.10\.\S+ is older than the configured minimum 24\.0\.0/,
      ),
    });
    await expect(
      preflight(engine, { service: 'sw-nope', minEngineVersion: '20.10.0' }),
    ).rejects.toMatchObject({
      name: 'ServiceNotFoundError',
      message: 'cluster c1: service sw-nope does not exist',
    });
  });

  it('deploys a canary with the right replica count and a copy of the spec, promotes, converges, and rolls back', async () => {
    // Prepare
    await resetPrimary();
    const snap = await snapshot(engine, SERVICE);
    expect(snap).toMatchObject({ image: v1.digestReference, digest: v1.digest, replicas: 3 });

    // Act: canary at 34% of 3 replicas
    const canary = await deployCanary(engine, {
      ref: ref('d-1'),
      snapshot: snap,
      image: v2.digestReference,
      percent: 34,
      registryAuth: auth,
    });
    // Assess: 2 replicas, the primary's spec with the new image, its labels and networks plus the alias
    expect(canary).toMatchObject({ canaryService: 'sw-web-canary', replicas: 2, changed: true });
    const live = (await docker.getService('sw-web-canary').inspect()).Spec as ServiceSpec;
    expect(live.TaskTemplate.ContainerSpec.Image).toBe(v2.digestReference);
    expect(live.Mode?.Replicated?.Replicas).toBe(2);
    expect(live.Labels).toMatchObject({
      team: 'payments',
      'deployer.scrape': 'true',
      [LABELS.role]: 'canary',
      [LABELS.deployment]: 'd-1',
      [LABELS.digest]: v2.digest,
    });
    expect(live.TaskTemplate.ContainerSpec).toMatchObject({
      Env: ['GREETING=hello', 'TRAFFIC_RPS=1'],
      Labels: { tier: 'web', [LABELS.role]: 'canary' },
    });
    expect(live.TaskTemplate.Resources).toEqual(snap.spec.TaskTemplate.Resources);
    expect(live.TaskTemplate.Placement?.Constraints).toEqual(['node.role == manager']);
    expect(live.TaskTemplate.Networks?.[0]?.Aliases).toEqual(['web-alias', SERVICE]);
    expect(await settle(engine, { service: 'sw-web-canary', image: v2.digestReference })).toMatchObject({
      verdict: 'converged',
      runningOnTarget: 2,
    });
    // Retrying changes nothing
    expect(
      await deployCanary(engine, {
        ref: ref('d-1'),
        snapshot: snap,
        image: v2.digestReference,
        percent: 34,
        registryAuth: auth,
      }),
    ).toMatchObject({ changed: false });

    // Act: promote
    const since = new Date().toISOString();
    expect(
      await promote(engine, {
        ref: ref('d-1'),
        snapshot: snap,
        image: v2.digestReference,
        update: POLICY,
        registryAuth: auth,
      }),
    ).toMatchObject({ changed: true });
    const promoted = await settle(engine, { service: SERVICE, image: v2.digestReference, since });
    // Assess
    expect(promoted).toMatchObject({
      verdict: 'converged',
      desired: 3,
      runningOnTarget: 3,
      runningOther: 0,
      updateState: 'completed',
    });
    const afterPromote = (await docker.getService(SERVICE).inspect()).Spec as ServiceSpec;
    expect(afterPromote.UpdateConfig).toEqual(asReported(toUpdateConfig(POLICY)));
    expect(afterPromote.RollbackConfig).toEqual(asReported(toUpdateConfig(POLICY)));
    expect(afterPromote.Labels).toMatchObject({ [LABELS.deployment]: 'd-1', [LABELS.role]: 'primary' });
    // A retried promote finds it done
    expect(
      await promote(engine, { ref: ref('d-1'), snapshot: snap, image: v2.digestReference, update: POLICY }),
    ).toMatchObject({ changed: false });

    // Act: roll back
    const rolled = await rollback(engine, snap);
    // Assess: old digest and old update_config are back, canary gone
    expect(rolled).toMatchObject({ restored: true, canaryRemoved: true });
    expect(await settle(engine, { service: SERVICE, image: v1.digestReference })).toMatchObject({
      verdict: 'converged',
      runningOnTarget: 3,
      runningOther: 0,
    });
    const afterRollback = (await docker.getService(SERVICE).inspect()).Spec as ServiceSpec;
    expect(afterRollback.UpdateConfig).toEqual(ORIGINAL_UPDATE);
    expect(afterRollback.TaskTemplate.ContainerSpec.Image).toBe(v1.digestReference);
    expect(afterRollback.Labels?.[LABELS.deployment]).toBeUndefined();
    await expect(docker.getService('sw-web-canary').inspect()).rejects.toMatchObject({ statusCode: 404 });
    // Rolling back again is a no-op
    expect(await rollback(engine, snap)).toMatchObject({ restored: false, canaryRemoved: false });
  });

  it('reports a digest that is not in the registry as an image-pull failure with the registry message, without waiting for a deadline', async () => {
    await resetPrimary();
    const snap = await snapshot(engine, SERVICE);
    const missing = `${f.registry.address}/demo@sha256:${'0'.repeat(64)}`;
    await deployCanary(engine, {
      ref: ref('d-pull'),
      snapshot: snap,
      image: missing,
      percent: 10,
      registryAuth: auth,
    });
    const p = await settle(engine, { service: canaryName(SERVICE), image: missing, registryAuth: auth });
    expect(p.verdict).toBe('failed');
    expect(p.errorName).toBe('ImagePullError');
    expect(p.reason).toMatch(
      /cluster c1: service sw-web-canary: image .* cannot be pulled: .*manifest unknown/,
    );
    expect(p.reason).not.toContain(f.registry.password);
    await removeCanary(engine, SERVICE);
  });

  it('reports an image that exits at start as failed, with the task error and its last log line', async () => {
    await resetPrimary();
    const snap = await snapshot(engine, SERVICE);
    const crashing = await pushDemo(f, { tag: uniqueTag('crash'), crash: true });
    await deployCanary(engine, {
      ref: ref('d-crash'),
      snapshot: snap,
      image: crashing.digestReference,
      percent: 34,
      registryAuth: auth,
    });
    const p = await settle(engine, { service: canaryName(SERVICE), image: crashing.digestReference });
    expect(p).toMatchObject({ verdict: 'failed', errorName: 'TaskCrashError' });
    expect(p.reason).toMatch(
      /exit code 3: task: non-zero exit \(3\) \(last log line: demo: CRASH=1 requested, exiting at start\)/,
    );
    expect(p.failedTasks[0]).toMatchObject({ state: 'failed', exitCode: 3 });
    await removeCanary(engine, SERVICE);
  });

  it('refuses to promote over a spec edited after the snapshot, and changes nothing', async () => {
    await resetPrimary();
    const snap = await snapshot(engine, SERVICE);
    // Someone scales the service in between
    const svc = docker.getService(SERVICE);
    const current = await svc.inspect();
    await svc.update({
      ...current.Spec,
      version: current.Version.Index,
      Mode: { Replicated: { Replicas: 4 } },
    });
    const before = await svc.inspect();
    await expect(
      promote(engine, {
        ref: ref('d-conflict'),
        snapshot: snap,
        image: v2.digestReference,
        update: POLICY,
        registryAuth: auth,
      }),
    ).rejects.toMatchObject({
      name: 'SpecConflictError',
      message: expect.stringMatching(
        /cluster c1: service sw-web was changed by someone else since the snapshot \(spec version \d+ → \d+/,
      ),
    });
    const after = await svc.inspect();
    expect(after.Version.Index).toBe(before.Version.Index);
    expect(after.Spec.TaskTemplate.ContainerSpec.Image).toBe(v1.digestReference);
    expect(after.Spec.Mode.Replicated.Replicas).toBe(4);
  });

  it('reaches the same end state when any operation is cut off midway and retried', async () => {
    await resetPrimary();
    const snap = await snapshot(engine, SERVICE);
    const cut = async (op: (signal: AbortSignal) => Promise<unknown>, afterMs: number) => {
      const ac = new AbortController();
      const timer = setTimeout(() => ac.abort(), afterMs);
      await op(ac.signal).catch((err: Error) => {
        // Only an abort may stop it; anything else is a real failure.
        if (err.name !== 'OperationAbortedError') throw err;
      });
      clearTimeout(timer);
    };
    for (const afterMs of [0, 3, 15, 40]) {
      const canaryInput = {
        ref: ref(`d-cut-${afterMs}`),
        snapshot: snap,
        image: v2.digestReference,
        percent: 34,
        registryAuth: auth,
      };
      await cut((s) => deployCanary(engine, canaryInput, s), afterMs);
      await deployCanary(engine, canaryInput);
      const canary = (await docker.getService(canaryName(SERVICE)).inspect()).Spec as ServiceSpec;
      expect(canary.Mode?.Replicated?.Replicas).toBe(2);
      expect(canary.Labels?.[LABELS.deployment]).toBe(`d-cut-${afterMs}`);

      const promoteInput = {
        ref: ref(`d-cut-${afterMs}`),
        snapshot: snap,
        image: v2.digestReference,
        update: POLICY,
        registryAuth: auth,
      };
      await cut((s) => promote(engine, promoteInput, s), afterMs);
      await promote(engine, promoteInput);
      expect((await progress(engine, { service: SERVICE, image: v2.digestReference })).desired).toBe(3);
      const primary = (await docker.getService(SERVICE).inspect()).Spec as ServiceSpec;
      expect(primary.TaskTemplate.ContainerSpec.Image).toBe(v2.digestReference);
      expect(primary.UpdateConfig).toEqual(asReported(toUpdateConfig(POLICY)));

      await cut((s) => rollback(engine, snap, s), afterMs);
      await rollback(engine, snap);
      const restored = (await docker.getService(SERVICE).inspect()).Spec as ServiceSpec;
      expect(restored.TaskTemplate.ContainerSpec.Image).toBe(v1.digestReference);
      expect(restored.UpdateConfig).toEqual(ORIGINAL_UPDATE);
      await expect(docker.getService(canaryName(SERVICE)).inspect()).rejects.toMatchObject({
        statusCode: 404,
      });
      // The snapshot is taken again: each round starts from the restored primary (version moved on).
      Object.assign(snap, await snapshot(engine, SERVICE));
    }
    // Four stop-first updates back and forth on one node can take a while on a loaded machine;
    // if it does not converge, the tasks' own states say why.
    const final = await settle(engine, { service: SERVICE, image: v1.digestReference }, 150_000);
    if (final.verdict !== 'converged')
      console.log(`[cut off] not converged:\n${await taskStates(docker, SERVICE)}`);
    expect(final).toMatchObject({ verdict: 'converged', runningOnTarget: 3 });
  });
});
