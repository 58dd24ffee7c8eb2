/**
 * Helpers of the simulator tests: the primary service as the integration tests create it, and a
 * Progress poll as the workflow's Wait loop does.
 */
import type { Engine } from '../../../functions/lib/swarm/engine.js';
import { type ProgressInput, progress } from '../../../functions/lib/swarm/operations.js';
import type { Progress, ServiceSpec } from '../../../functions/lib/swarm/types.js';

/** The time scale of the tests: a one-second task start takes 50 ms. */
export const SCALE = 0.05;

export const ORIGINAL_UPDATE = {
  Parallelism: 1,
  FailureAction: 'pause' as const,
  Monitor: 2_000_000_000,
  MaxFailureRatio: 0,
  Order: 'stop-first' as const,
};

/** A primary as users run them (test/integration/swarm/operations.test.ts): labels, env, network, host port. */
export function primarySpec(name: string, image: string, replicas: number, network: string): ServiceSpec {
  return {
    Name: name,
    Labels: { 'deployer.scrape': 'true', team: 'payments' },
    TaskTemplate: {
      ContainerSpec: { Image: image, Env: ['GREETING=hello', 'TRAFFIC_RPS=5'], Labels: { tier: 'web' } },
      Networks: [{ Target: network, Aliases: ['web-alias'] }],
      Resources: { Limits: { MemoryBytes: 64 * 2 ** 20 } },
      RestartPolicy: { Condition: 'any', Delay: 1_000_000_000 },
    },
    Mode: { Replicated: { Replicas: replicas } },
    UpdateConfig: ORIGINAL_UPDATE,
    EndpointSpec: { Mode: 'dnsrr', Ports: [{ Protocol: 'tcp', TargetPort: 8080, PublishMode: 'host' }] },
  };
}

/** Creates a service through the Engine API and waits until its tasks run. */
export async function createService(engine: Engine, spec: ServiceSpec): Promise<string> {
  const { ID } = await engine.request<{ ID: string }>({
    method: 'POST',
    path: '/services/create',
    body: spec,
  });
  const p = await settle(engine, {
    service: spec.Name,
    image: spec.TaskTemplate.ContainerSpec.Image,
    stableSeconds: 0,
  });
  if (p.verdict !== 'converged') throw new Error(`service ${spec.Name} did not start: ${p.reason}`);
  return ID;
}

/** Polls Progress until it is no longer "progressing" (every 25 ms). */
export async function settle(engine: Engine, input: ProgressInput, timeoutMs = 10_000): Promise<Progress> {
  const deadline = Date.now() + timeoutMs;
  let p = await progress(engine, { stableSeconds: 0.1, ...input });
  while (p.verdict === 'progressing' && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 25));
    p = await progress(engine, { stableSeconds: 0.1, ...input });
  }
  return p;
}

/** Waits until `check` holds (polling every 20 ms). */
export async function eventually<T>(
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
