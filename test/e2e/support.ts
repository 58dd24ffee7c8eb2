import { alertJson } from '../../functions/lib/notify/notifier.js';
import type { DemoBuild, PushedImage } from '../../local/fleet/demo-image.js';
import type { FleetStatus } from '../../local/fleet/fleet.js';
import { run } from '../../local/fleet/sys.js';
import {
  type LocalRuntime,
  type LocalRuntimeOptions,
  startLocalRuntime,
} from '../../local/runtime/runtime.js';
import {
  createDemoService,
  dockerFor,
  pushDemo,
  registryAuth,
  removeServiceQuietly,
  uniqueTag,
  waitForRunning,
} from '../integration/support/fleet.js';

export const SERVICE = 'web';

/** The local clusters as the deployer's configuration names them (targets as the fleet makes them). */
export function clusterConfigs(f: FleetStatus) {
  return f.clusters.map((c) => ({
    name: c.name,
    region: 'us-east-1',
    target: c.target,
    prometheus: { tunnelPort: 9090 },
    // A manager that cannot be reached is given up on after 20 s in tests (300 s by default).
    unreachableSeconds: 20,
  }));
}

/** A service policy for the demo app with short, test-sized timings; `over` replaces top-level fields. */
export function policy(over: Record<string, unknown> = {}) {
  return {
    name: 'web',
    service: SERVICE,
    repository: 'demo',
    tags: { glob: 'v*' },
    clusters: ['c1', 'c2', 'c3'],
    canary: { cluster: 'c1', percent: 34 },
    analysis: {
      metrics: [
        {
          template: 'success-rate',
          params: { minSuccessRate: 0.9 },
          interval: '5s',
          window: '20s',
          count: 3,
          initialDelay: '10s',
          failureLimit: 0,
          inconclusiveLimit: 2,
        },
      ],
    },
    waves: [
      { name: 'first', clusters: ['c1'] },
      { name: 'rest', clusters: ['c2', 'c3'] },
    ],
    promotion: { mode: 'auto' },
    concurrency: 'queue',
    update: { parallelism: 0, monitorSeconds: 1 },
    pollSeconds: 1,
    progressDeadlineSeconds: 90,
    ...over,
  };
}

/** Starts the local twin with one policy (the fleet is the shared one, already up). */
export async function startRuntime(
  servicePolicy: Record<string, unknown> = policy(),
  options: Pick<LocalRuntimeOptions, 'editModel' | 'ecrTokenSeconds'> = {},
): Promise<LocalRuntime> {
  const { status } = await import('../../local/fleet/fleet.js');
  const f = await status();
  return startLocalRuntime({
    config: { clusters: clusterConfigs(f), services: [servicePolicy] },
    // The fleet as it is (fleet20.test.ts runs twenty clusters; the others the shared three).
    fleet: { clusters: f.clusters.length },
    ...options,
  });
}

/**
 * Puts every cluster's `web` on a known image (a tag no policy deploys), `replicas` of it (3 by
 * default), no canary.
 */
export async function baseline(
  rt: LocalRuntime,
  build: Partial<DemoBuild> = {},
  replicas = 3,
): Promise<PushedImage> {
  const image = await pushDemo(rt.fleet, { ...build, tag: uniqueTag('base') });
  for (const c of rt.fleet.clusters) {
    const d = dockerFor(c);
    await removeServiceQuietly(d, `${SERVICE}-canary`);
    await removeServiceQuietly(d, SERVICE);
    await createDemoService(d, {
      name: SERVICE,
      image: image.digestReference,
      replicas,
      auth: registryAuth(rt.fleet),
    });
  }
  for (const c of rt.fleet.clusters) await waitForRunning(dockerFor(c), SERVICE, replicas, 120_000);
  // The executions the baseline push started (ignored: no policy for its tag) must not disturb the test.
  await settleExecutions(rt);
  return image;
}

/** Pushes a release; the registry's notification starts the workflow, as ECR's event would. */
export function release(rt: LocalRuntime, build: Partial<DemoBuild> & { tag: string }): Promise<PushedImage> {
  return pushDemo(rt.fleet, build);
}

/** Executions whose input is the push of `digest`. */
export async function executionsFor(rt: LocalRuntime, digest: string) {
  const { executions } = await rt.engine.listExecutions({ stateMachineArn: rt.stateMachineArn });
  const out = [];
  for (const e of executions) {
    const d = await rt.engine.describeExecution(e.executionArn);
    if (d.input.includes(digest)) out.push(d);
  }
  return out;
}

/** Waits until an execution for `digest` exists and every one of them has ended; returns them. */
export async function finished(rt: LocalRuntime, digest: string, timeoutMs = 300_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const list = await executionsFor(rt, digest);
    if (list.length > 0 && list.every((e) => e.status !== 'RUNNING')) return list;
    if (Date.now() > deadline)
      throw new Error(
        `executions for ${digest} still running after ${timeoutMs} ms: ${list.map((e) => e.status).join(', ')}`,
      );
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** Waits for every execution to end (stray ones from earlier pushes included). */
export async function settleExecutions(rt: LocalRuntime, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  await new Promise((r) => setTimeout(r, 1500)); // registry notifications arrive asynchronously
  for (;;) {
    const { executions } = await rt.engine.listExecutions({
      stateMachineArn: rt.stateMachineArn,
      statusFilter: 'RUNNING',
    });
    if (executions.length === 0 || Date.now() > deadline) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** What each cluster runs: the primary's image and whether a canary exists. */
export async function clusterImages(
  rt: LocalRuntime,
): Promise<Record<string, { image: string; canary: boolean }>> {
  const out: Record<string, { image: string; canary: boolean }> = {};
  for (const c of rt.fleet.clusters) {
    const d = dockerFor(c);
    const spec = (await d.getService(SERVICE).inspect()).Spec as {
      TaskTemplate: { ContainerSpec: { Image: string } };
    };
    const canary = await d
      .getService(`${SERVICE}-canary`)
      .inspect()
      .then(
        () => true,
        () => false,
      );
    out[c.name] = { image: spec.TaskTemplate.ContainerSpec.Image, canary };
  }
  return out;
}

/** The SNS messages about one digest, parsed. */
export function alerts(rt: LocalRuntime, digest: string) {
  return rt.aws.sns
    .messages(rt.topicArn)
    .map((m) => ({
      ...(alertJson(m.message) as {
        transition: string;
        summary: string;
        severity: string;
        digest: string;
        details?: unknown;
      }),
      attributes: m.attributes,
    }))
    .filter((m) => m.digest === digest);
}

/** Which tasks of `web` run which image, on every cluster: converged on one image means no mix. */
export async function runningImages(rt: LocalRuntime): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const c of rt.fleet.clusters) {
    const tasks = await dockerFor(c).listTasks({
      filters: { service: [SERVICE], 'desired-state': ['running'] },
    });
    out[c.name] = [
      ...new Set(tasks.map((t) => (t.Spec as { ContainerSpec: { Image: string } }).ContainerSpec.Image)),
    ];
  }
  return out;
}

/**
 * Calls the deployer's HTTP API through the API Gateway stand-in, signed (SigV4) as the IAM user
 * `caller` names (a release manager: the approver role's permissions), or unsigned without one.
 */
export function callApi(
  rt: LocalRuntime,
  deploymentId: string,
  action: string,
  caller: string | undefined,
  body?: unknown,
) {
  const user = caller === undefined ? undefined : rt.user(caller.slice(caller.lastIndexOf('/') + 1));
  return rt.callApi('POST', `/deployments/${deploymentId}/${action}`, user, body);
}

/** The twin's function for a handler file (functions/handlers/<handler>.ts). */
export function functionOf(rt: LocalRuntime, handler: string) {
  const model = rt.model.functions.find((f) => f.handler === handler);
  const fn = model && rt.functions.get(model.name);
  if (!fn) throw new Error(`no function for handler ${handler} in the stack`);
  return fn;
}

/** Waits for an SNS message of `transition` about `digest`. */
export async function alertOf(rt: LocalRuntime, digest: string, transition: string, timeoutMs = 180_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = alerts(rt, digest).find((a) => a.transition === transition);
    if (found) return found;
    if (Date.now() > deadline)
      throw new Error(
        `no "${transition}" alert for ${digest} within ${timeoutMs} ms; got ${alerts(rt, digest)
          .map((a) => a.transition)
          .join(', ')}`,
      );
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** The deployment id of the (first) execution that planned `digest`. */
export async function deploymentIdOf(rt: LocalRuntime, digest: string): Promise<string> {
  const a = await alertOf(rt, digest, 'started');
  return (a as unknown as { deployment: string }).deployment;
}

/** Replaces the service policy in Parameter Store (read on every plan), as an operator would. */
export async function setPolicy(rt: LocalRuntime, servicePolicy: Record<string, unknown>) {
  const { SSMClient } = await import('@aws-sdk/client-ssm');
  const { writeConfig } = await import('../../functions/lib/config/store.js');
  const ssm = new SSMClient(rt.clientConfig);
  await writeConfig(ssm, rt.env.DEPLOYER_PREFIX as string, {
    clusters: clusterConfigs(rt.fleet),
    services: [servicePolicy],
  });
  ssm.destroy();
}

/**
 * Cuts one cluster's manager off from the registry (its pulls fail; nothing else changes), as a
 * failure injected into that cluster only. Returns the undo.
 */
export async function blockRegistry(rt: LocalRuntime, cluster: string): Promise<() => Promise<unknown>> {
  const c = rt.fleet.clusters.find((x) => x.name === cluster);
  if (!c) throw new Error(`no cluster ${cluster} in the fleet`);
  const [registryHost, registryPort] = rt.fleet.registry.address.split(':') as [string, string];
  const rule = ['OUTPUT', '-d', registryHost, '-p', 'tcp', '--dport', registryPort, '-j', 'REJECT'];
  await run('nsenter', [`--net=/run/netns/${c.namespace}`, 'iptables', '-I', ...rule]);
  return () =>
    run('nsenter', [`--net=/run/netns/${c.namespace}`, 'iptables', '-D', ...rule], { allowFail: true });
}
