/**
 * The Engine API simulator under the deployer's REAL operations (functions/lib/swarm), connected
 * directly to the simulated engine's port, at a time scale of 0.05. What is checked is that the
 * simulator answers what the operations need, in the engine's shapes, so that scale tests exercise
 * the real code paths; real dockerd (test/integration/swarm) stays the truth for behaviour.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../../functions/lib/swarm/engine.js';
import { ImagePullError, TaskCrashError } from '../../../functions/lib/swarm/errors.js';
import {
  ensureNetwork,
  ensureObject,
  pruneObjects,
  removeObjectsOf,
} from '../../../functions/lib/swarm/objects.js';
import {
  canaryName,
  deployCanary,
  LABELS,
  preflight,
  progressError,
  promote,
  removeCanary,
  rollback,
  snapshot,
  toUpdateConfig,
} from '../../../functions/lib/swarm/operations.js';
import type {
  DeploymentRef,
  Service,
  ServiceSpec,
  Task,
  UpdatePolicy,
} from '../../../functions/lib/swarm/types.js';
import {
  SIM_REGISTRY_HOST,
  type SimEngine,
  type SimImage,
  startSimEngine,
} from '../../../local/sim/index.js';
import { createService, eventually, ORIGINAL_UPDATE, primarySpec, SCALE, settle } from './support.js';

const SERVICE = 'web';
const NETWORK = 'web-net';
const POLICY: UpdatePolicy = {
  parallelism: 0,
  delaySeconds: 0,
  monitorSeconds: 1,
  failureAction: 'pause',
  maxFailureRatio: 0,
  order: 'stop-first',
};
const ref = (deploymentId: string): DeploymentRef => ({ deploymentId, cluster: 'c1', service: SERVICE });

let sim: SimEngine;
let engine: Engine;
let v1: SimImage;
let v2: SimImage;
let crashing: SimImage;

async function inspect(name: string): Promise<Service> {
  return engine.request<Service>({ method: 'GET', path: `/services/${name}` });
}

async function tasksOf(name: string): Promise<Task[]> {
  return engine.request<Task[]>({
    method: 'GET',
    path: '/tasks',
    query: { filters: JSON.stringify({ service: [name] }) },
  });
}

async function resetPrimary(replicas = 3, name = SERVICE): Promise<void> {
  for (const n of [canaryName(name), name]) {
    if (await engine.request({ method: 'GET', path: `/services/${n}`, allow404: true })) {
      await engine.request({ method: 'DELETE', path: `/services/${n}` });
    }
  }
  await createService(engine, primarySpec(name, v1.digestReference, replicas, NETWORK));
}

beforeAll(async () => {
  sim = await startSimEngine({ name: 'c1', timeScale: SCALE, workers: 2 });
  v1 = sim.registry.add({ tag: 'v1' });
  v2 = sim.registry.add({ tag: 'v2' });
  crashing = sim.registry.add({ tag: 'crash', crash: true });
  engine = await Engine.connect({ cluster: 'c1', host: '127.0.0.1', port: sim.port });
  await ensureNetwork(engine, {
    name: NETWORK,
    driver: 'overlay',
    encrypted: false,
    attachable: true,
    deploymentId: 'd-0',
  });
});

afterAll(async () => {
  await sim?.stop();
});

afterEach(() => {
  sim.cluster.faults.failPull.clear();
  sim.cluster.faults.latencyMs = 0;
});

describe('the simulated engine under the real operations', () => {
  it('negotiates the API version, says it is a simulator, and passes preflight', async () => {
    // Prepare
    await resetPrimary();
    // Act
    const result = await preflight(engine, {
      service: SERVICE,
      minEngineVersion: '20.10.0',
      networkDrivers: ['overlay'],
    });
    const version = await fetch(`http://127.0.0.1:${sim.port}/version`);
    const body = (await version.json()) as { Components: Array<{ Name: string }>; ApiVersion: string };
    // Assess
    expect(result).toMatchObject({
      cluster: 'c1',
      apiVersion: '1.41',
      engineVersion: '20.10.24',
      readyNodes: 3,
      requiredNodes: 1,
      replicas: 3,
    });
    expect(version.headers.get('x-simulator')).toMatch(/simulator/);
    expect(body.Components.map((c) => c.Name)).toContain('Swarm Engine API simulator');
    await expect(preflight(engine, { service: 'nope', minEngineVersion: '20.10.0' })).rejects.toMatchObject({
      name: 'ServiceNotFoundError',
      message: 'cluster c1: service nope does not exist',
    });
    await expect(preflight(engine, { service: SERVICE, minEngineVersion: '24.0.0' })).rejects.toMatchObject({
      name: 'EngineVersionError',
    });
  });

  it('refuses a client API version above its own, as dockerd does', async () => {
    const res = await fetch(`http://127.0.0.1:${sim.port}/v1.45/info`);
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      message: 'client version 1.45 is too new. Maximum supported API version is 1.41',
    });
  });

  it('creates a canary that converges, with the primary spec, and a retry changes nothing', async () => {
    // Prepare
    await resetPrimary();
    const snap = await snapshot(engine, SERVICE);
    const input = { ref: ref('d-1'), snapshot: snap, image: v2.digestReference, percent: 34 };
    // Act
    const canary = await deployCanary(engine, input);
    const converged = await settle(engine, { service: canaryName(SERVICE), image: v2.digestReference });
    // Assess
    expect(canary).toMatchObject({ canaryService: 'web-canary', replicas: 2, changed: true });
    expect(converged).toMatchObject({ verdict: 'converged', runningOnTarget: 2, desired: 2 });
    const live = (await inspect(canaryName(SERVICE))).Spec;
    expect(live.Labels).toMatchObject({
      team: 'payments',
      [LABELS.role]: 'canary',
      [LABELS.digest]: v2.digest,
    });
    expect(live.TaskTemplate.Networks?.[0]).toMatchObject({
      Target: sim.cluster.findNetwork(NETWORK).id,
      Aliases: ['web-alias', SERVICE],
    });
    expect(await deployCanary(engine, input)).toMatchObject({ changed: false });
    const states = (await tasksOf(canaryName(SERVICE))).map((t) => t.Status.State);
    expect(states).toEqual(['running', 'running']);
  });

  it('promotes in the configured parallelism order: slot pairs, a delay between them, then completed', async () => {
    // Prepare: 4 replicas, parallelism 2, a 0.5 s delay (25 ms scaled)
    await resetPrimary(4);
    const snap = await snapshot(engine, SERVICE);
    const since = new Date().toISOString();
    const policy: UpdatePolicy = { ...POLICY, parallelism: 2, delaySeconds: 0.5 };
    // Act
    await promote(engine, { ref: ref('d-2'), snapshot: snap, image: v2.digestReference, update: policy });
    const p = await settle(engine, { service: SERVICE, image: v2.digestReference, since });
    // Assess
    expect(p).toMatchObject({
      verdict: 'converged',
      runningOnTarget: 4,
      runningOther: 0,
      updateState: 'completed',
    });
    const fresh = (await tasksOf(SERVICE))
      .filter((t) => t.Spec.ContainerSpec?.Image === v2.digestReference)
      .sort((a, b) => (a.Slot ?? 0) - (b.Slot ?? 0));
    expect(fresh.map((t) => t.Slot)).toEqual([1, 2, 3, 4]);
    const created = fresh.map((t) => Date.parse(t.CreatedAt ?? ''));
    const [c1, c2, c3, c4] = created as [number, number, number, number];
    expect(Math.abs(c2 - c1)).toBeLessThan(20);
    expect(Math.abs(c4 - c3)).toBeLessThan(20);
    // The second pair waits for the first to stop, start, run, then the delay.
    expect(c3 - c1).toBeGreaterThanOrEqual((0.5 + 1) * 1000 * SCALE);
    const spec = (await inspect(SERVICE)).Spec;
    expect(spec.UpdateConfig).toEqual(toUpdateConfig(policy));
    expect(spec.Labels).toMatchObject({ [LABELS.deployment]: 'd-2', [LABELS.role]: 'primary' });
    expect(
      await promote(engine, { ref: ref('d-2'), snapshot: snap, image: v2.digestReference, update: policy }),
    ).toMatchObject({ changed: false });
  });

  it('reports a digest missing from the registry as the ImagePullError our code raises', async () => {
    // Prepare
    await resetPrimary();
    const snap = await snapshot(engine, SERVICE);
    const missing = `${SIM_REGISTRY_HOST}/demo@sha256:${'0'.repeat(64)}`;
    // Act
    await deployCanary(engine, { ref: ref('d-pull'), snapshot: snap, image: missing, percent: 10 });
    const p = await settle(engine, { service: canaryName(SERVICE), image: missing });
    // Assess
    expect(p).toMatchObject({ verdict: 'failed', errorName: 'ImagePullError' });
    expect(p.failedTasks[0]).toMatchObject({ state: 'rejected', error: `No such image: ${missing}` });
    // The registry's message, as the engine's HTTP 404 carries it (docker-modem prefixes the status).
    expect(p.reason).toContain(
      `cluster c1: service web-canary: image ${missing} cannot be pulled: (HTTP code 404) unexpected - manifest for ${missing} not found: manifest unknown: manifest unknown`,
    );
    expect(progressError(p)).toBeInstanceOf(ImagePullError);
    await expect(engine.pullImage(missing, undefined)).rejects.toBeInstanceOf(ImagePullError);
    await removeCanary(engine, SERVICE);
  });

  it('fails a digest on this cluster only when the fault says so, with the fault message', async () => {
    await resetPrimary();
    const snap = await snapshot(engine, SERVICE);
    sim.cluster.faults.failPull.set(v2.digest, 'toomanyrequests: rate limit exceeded, pull access denied');
    await deployCanary(engine, {
      ref: ref('d-fault'),
      snapshot: snap,
      image: v2.digestReference,
      percent: 10,
    });
    const p = await settle(engine, { service: canaryName(SERVICE), image: v2.digestReference });
    expect(p).toMatchObject({ verdict: 'failed', errorName: 'ImagePullError' });
    expect(p.reason).toMatch(/cannot be pulled: .*toomanyrequests: rate limit exceeded, pull access denied/);
    sim.cluster.faults.failPull.clear();
    await engine.pullImage(v2.digestReference, undefined);
    await removeCanary(engine, SERVICE);
  });

  it('reports CRASH=1 as a TaskCrashError with exit code 3 and the last log line', async () => {
    // Prepare
    await resetPrimary();
    const snap = await snapshot(engine, SERVICE);
    // Act
    await deployCanary(engine, {
      ref: ref('d-crash'),
      snapshot: snap,
      image: crashing.digestReference,
      percent: 34,
    });
    const p = await settle(engine, { service: canaryName(SERVICE), image: crashing.digestReference });
    // Assess
    expect(p).toMatchObject({ verdict: 'failed', errorName: 'TaskCrashError' });
    expect(p.failedTasks[0]).toMatchObject({ state: 'failed', exitCode: 3 });
    expect(p.reason).toMatch(
      /exit code 3: task: non-zero exit \(3\) \(last log line: demo: CRASH=1 requested, exiting at start\)/,
    );
    expect(progressError(p)).toBeInstanceOf(TaskCrashError);
    await removeCanary(engine, SERVICE);
  });

  it('restores the previous digest and update_config on rollback, removes the canary, then is a no-op', async () => {
    // Prepare
    await resetPrimary();
    const snap = await snapshot(engine, SERVICE);
    await deployCanary(engine, { ref: ref('d-rb'), snapshot: snap, image: v2.digestReference, percent: 34 });
    await promote(engine, { ref: ref('d-rb'), snapshot: snap, image: v2.digestReference, update: POLICY });
    await settle(engine, { service: SERVICE, image: v2.digestReference });
    // Act
    const rolled = await rollback(engine, snap);
    const p = await settle(engine, { service: SERVICE, image: v1.digestReference });
    // Assess
    expect(rolled).toMatchObject({ restored: true, canaryRemoved: true });
    expect(p).toMatchObject({ verdict: 'converged', runningOnTarget: 3, runningOther: 0 });
    const spec = (await inspect(SERVICE)).Spec;
    expect(spec.UpdateConfig).toEqual(ORIGINAL_UPDATE);
    expect(spec.TaskTemplate.ContainerSpec.Image).toBe(v1.digestReference);
    expect(spec.Labels?.[LABELS.deployment]).toBeUndefined();
    expect(await rollback(engine, snap)).toMatchObject({ restored: false, canaryRemoved: false });
  });

  it("rolls back by itself when failure_action is rollback, as swarm's updater does", async () => {
    // Prepare
    await resetPrimary();
    const snap = await snapshot(engine, SERVICE);
    const since = new Date().toISOString();
    // Act
    await promote(engine, {
      ref: ref('d-auto'),
      snapshot: snap,
      image: crashing.digestReference,
      update: { ...POLICY, parallelism: 1, failureAction: 'rollback', monitorSeconds: 5 },
    });
    const service = await eventually(async () => {
      const s = await inspect(SERVICE);
      return s.UpdateStatus?.State === 'rollback_completed' ? s : undefined;
    });
    const p = await settle(engine, { service: SERVICE, image: crashing.digestReference, since });
    // Assess
    expect(service.Spec.TaskTemplate.ContainerSpec.Image).toBe(v1.digestReference);
    expect(service.UpdateStatus?.Message).toBe('rollback completed');
    expect(p).toMatchObject({
      verdict: 'failed',
      errorName: 'UpdatePausedError',
      updateState: 'rollback_completed',
    });
    const running = await eventually(async () => {
      const tasks = (await tasksOf(SERVICE)).filter((t) => t.Status.State === 'running');
      return tasks.length === 3 ? tasks : undefined;
    });
    expect(running.every((t) => t.Spec.ContainerSpec?.Image === v1.digestReference)).toBe(true);
  });

  it('pauses the update when a new task fails and failure_action is pause', async () => {
    await resetPrimary();
    const snap = await snapshot(engine, SERVICE);
    // One slot at a time, with a delay longer than the crash takes: the failure stops it after slot 1.
    await promote(engine, {
      ref: ref('d-pause'),
      snapshot: snap,
      image: crashing.digestReference,
      update: { ...POLICY, parallelism: 1, delaySeconds: 1, monitorSeconds: 5 },
    });
    const s = await eventually(async () => {
      const live = await inspect(SERVICE);
      return live.UpdateStatus?.State === 'paused' ? live : undefined;
    });
    expect(s.UpdateStatus?.Message).toMatch(
      /^update paused due to failure or early termination of task \w{25}$/,
    );
    // Only the first slot was replaced: the others still run the old image.
    const running = (await tasksOf(SERVICE)).filter((t) => t.Status.State === 'running');
    expect(running.filter((t) => t.Spec.ContainerSpec?.Image === v1.digestReference).length).toBe(2);
  });

  it('rolls back to the previous spec on ?rollback=previous', async () => {
    await resetPrimary();
    const before = await inspect(SERVICE);
    const spec = {
      ...before.Spec,
      TaskTemplate: {
        ...before.Spec.TaskTemplate,
        ContainerSpec: { ...before.Spec.TaskTemplate.ContainerSpec, Image: v2.digestReference },
      },
    };
    await engine.request({
      method: 'POST',
      path: `/services/${before.ID}/update`,
      query: { version: before.Version.Index },
      body: spec,
    });
    const updated = await inspect(SERVICE);
    await engine.request({
      method: 'POST',
      path: `/services/${before.ID}/update`,
      query: { version: updated.Version.Index, rollback: 'previous' },
      body: updated.Spec,
    });
    const rolled = await eventually(async () => {
      const s = await inspect(SERVICE);
      return s.UpdateStatus?.State === 'rollback_completed' ? s : undefined;
    });
    expect(rolled.Spec.TaskTemplate.ContainerSpec.Image).toBe(v1.digestReference);
    expect(
      (rolled as Service & { PreviousSpec?: ServiceSpec }).PreviousSpec?.TaskTemplate.ContainerSpec.Image,
    ).toBe(v2.digestReference);
  });

  it("answers a stale version with the engine's 'update out of sequence', and a taken name with 409", async () => {
    // Prepare
    await resetPrimary();
    const live = await inspect(SERVICE);
    await engine.request({
      method: 'POST',
      path: `/services/${live.ID}/update`,
      query: { version: live.Version.Index },
      body: { ...live.Spec, Mode: { Replicated: { Replicas: 4 } } },
    });
    // Act + Assess: the stale version
    await expect(
      engine.request({
        method: 'POST',
        path: `/services/${live.ID}/update`,
        query: { version: live.Version.Index },
        body: live.Spec,
      }),
    ).rejects.toMatchObject({
      name: 'EngineApiError',
      statusCode: 500,
      engineMessage: 'rpc error: code = Unknown desc = update out of sequence',
    });
    // The deployer's promote detects the edit as someone else's change
    const snap = { ...(await snapshot(engine, SERVICE)), specVersion: live.Version.Index, spec: live.Spec };
    await expect(
      promote(engine, { ref: ref('d-conflict'), snapshot: snap, image: v2.digestReference, update: POLICY }),
    ).rejects.toMatchObject({ name: 'SpecConflictError' });
    await expect(
      engine.request({ method: 'POST', path: '/services/create', body: live.Spec }),
    ).rejects.toMatchObject({
      statusCode: 409,
      engineMessage:
        'rpc error: code = AlreadyExists desc = name conflicts with an existing object: service web already exists',
    });
    await expect(engine.request({ method: 'GET', path: '/services/nope' })).rejects.toMatchObject({
      statusCode: 404,
      engineMessage: 'service nope not found',
    });
  });

  it('ensures and prunes secrets and configs, keeping what a service still uses', async () => {
    // Prepare
    const base = { service: 'objsvc', deploymentId: 'd-obj', name: 'db-password' };
    // Act
    const first = await ensureObject(engine, { ...base, kind: 'secret', content: Buffer.from('one') });
    const again = await ensureObject(engine, { ...base, kind: 'secret', content: Buffer.from('one') });
    const second = await ensureObject(engine, { ...base, kind: 'secret', content: Buffer.from('two') });
    const config = await ensureObject(engine, {
      ...base,
      kind: 'config',
      name: 'app.conf',
      content: Buffer.from('x=1'),
    });
    const user = primarySpec('objsvc', v1.digestReference, 1, NETWORK);
    (user.TaskTemplate.ContainerSpec as Record<string, unknown>).Secrets = [
      {
        SecretID: first.id,
        SecretName: first.dockerName,
        File: { Name: 'pw', UID: '0', GID: '0', Mode: 0o400 },
      },
    ];
    await createService(engine, user);
    const pruned = await pruneObjects(engine, { service: 'objsvc', keep: new Set([config.id]) });
    // Assess
    expect(first).toMatchObject({
      created: true,
      dockerName: expect.stringMatching(/^db-password-[0-9a-f]{12}$/),
    });
    expect(again).toEqual({ ...first, created: false });
    expect(second.created).toBe(true);
    expect(pruned).toEqual({ removed: [second.dockerName], kept: [first.dockerName] });
    await expect(engine.request({ method: 'DELETE', path: `/secrets/${first.id}` })).rejects.toMatchObject({
      statusCode: 400,
      engineMessage: `rpc error: code = InvalidArgument desc = secret '${first.dockerName}' is in use by the following service: objsvc`,
    });
    await engine.request({ method: 'DELETE', path: '/services/objsvc' });
    expect(
      await removeObjectsOf(engine, { service: 'objsvc', deploymentId: 'd-obj', keep: new Set() }),
    ).toEqual({
      removed: [first.dockerName, config.dockerName],
      kept: [],
    });
    await expect(engine.request({ method: 'DELETE', path: `/secrets/${first.id}` })).rejects.toMatchObject({
      statusCode: 404,
      engineMessage: `secret ${first.id} not found`,
    });
  });

  it('ensures networks: creates, finds, and refuses another driver or a missing encryption', async () => {
    const input = {
      name: 'ens-net',
      driver: 'overlay',
      encrypted: true,
      attachable: true,
      deploymentId: 'd-net',
    };
    const created = await ensureNetwork(engine, input);
    expect(created.created).toBe(true);
    expect(await ensureNetwork(engine, input)).toEqual({ id: created.id, created: false });
    await expect(ensureNetwork(engine, { ...input, driver: 'bridge' })).rejects.toMatchObject({
      name: 'NetworkMismatchError',
    });
    await expect(ensureNetwork(engine, { ...input, name: NETWORK })).rejects.toMatchObject({
      name: 'NetworkMismatchError',
      message: expect.stringMatching(/exists unencrypted/),
    });
    const info = await engine.request<{ Scope: string; Options: Record<string, string> }>({
      method: 'GET',
      path: '/networks/ens-net',
    });
    expect(info).toMatchObject({ Scope: 'swarm', Options: { encrypted: '' } });
  });

  it('refuses connections while the engine is down, and adds the configured latency', async () => {
    // Act: down
    sim.cluster.faults.down = true;
    await sim.cluster.faults.settled();
    // A kept-alive connection may still be reset first; a new one is refused.
    await expect(Engine.connect({ cluster: 'c1', host: '127.0.0.1', port: sim.port })).rejects.toMatchObject({
      name: 'EngineUnreachableError',
    });
    await expect(Engine.connect({ cluster: 'c1', host: '127.0.0.1', port: sim.port })).rejects.toMatchObject({
      name: 'EngineUnreachableError',
      message: 'cluster c1: GET /version: engine unreachable (ECONNREFUSED)',
    });
    sim.cluster.faults.down = false;
    await sim.cluster.faults.settled();
    // Act: latency
    sim.cluster.faults.latencyMs = 120;
    const again = await Engine.connect({ cluster: 'c1', host: '127.0.0.1', port: sim.port });
    const started = Date.now();
    await again.request({ method: 'GET', path: '/info' });
    // Assess
    expect(Date.now() - started).toBeGreaterThanOrEqual(110);
  });
});
