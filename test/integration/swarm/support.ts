import { SSMClient } from '@aws-sdk/client-ssm';
import type Docker from 'dockerode';
import { openTunnel, type Tunnel } from '../../../functions/lib/ssm/index.js';
import { Engine } from '../../../functions/lib/swarm/engine.js';
import { type ProgressInput, progress } from '../../../functions/lib/swarm/operations.js';
import type { Progress } from '../../../functions/lib/swarm/types.js';
import { type ClusterStatus, type FleetStatus, startAgents, stopAgents } from '../../../local/fleet/fleet.js';
import { clientCredentials } from '../../../local/fleet/tls.js';
import { type SsmStandIn, startSsmStandIn } from '../../../local/ssm/index.js';

export const engineFor = (c: ClusterStatus) =>
  Engine.connect({ cluster: c.name, socketPath: c.dockerHost.replace('unix://', '') });

/** How a test reaches a cluster's Engine API: the harness's socket, or through Session Manager as the Lambdas do. */
export type Transport = 'unix socket' | 'SSM tunnel' | 'SSM tunnel, mutual TLS';

export interface Connection {
  engine: Engine;
  close(): Promise<void>;
}

/** The SSM stand-in on the fleet's host address (reachable from inside the namespaces) and an agent per cluster. */
export async function startSessionManager(
  f: FleetStatus,
): Promise<{ standIn: SsmStandIn; ssm: SSMClient; stop(): Promise<void> }> {
  const host = f.registry.eventsUrl.replace(/^http:\/\/([^:]+):.*$/, '$1'); // the root namespace's side of the fleet
  const standIn = await startSsmStandIn({ host, port: 0 });
  await startAgents(standIn.mgsUrl);
  for (const c of f.clusters) await standIn.waitForAgent(c.target, 30_000);
  const ssm = new SSMClient({
    endpoint: standIn.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local' },
  });
  return {
    standIn,
    ssm,
    async stop() {
      ssm.destroy();
      await stopAgents();
      await standIn.stop();
    },
  };
}

export async function connect(
  transport: Transport,
  f: FleetStatus,
  c: ClusterStatus,
  ssm?: SSMClient,
): Promise<Connection> {
  if (transport === 'unix socket') return { engine: await engineFor(c), close: async () => {} };
  if (!ssm) throw new Error('an SSM client is needed for a tunnel');
  const tls = transport === 'SSM tunnel, mutual TLS' ? await clientCredentials(f.stateDir) : undefined;
  const tunnel: Tunnel = await openTunnel({ ssm, target: c.target, portNumber: tls ? 2376 : 2375 });
  const engine = await Engine.connect({
    cluster: c.name,
    host: '127.0.0.1',
    port: tls ? 2376 : 2375,
    agent: tls ? tunnel.createTlsAgent({ ...tls, servername: 'localhost' }) : tunnel.agent,
    ...(tls ? { tls } : {}),
  });
  return { engine, close: () => tunnel.close() };
}

/** Polls Progress as the workflow's Wait loop does, until it is no longer "progressing". */
export async function settle(engine: Engine, input: ProgressInput, timeoutMs = 60_000): Promise<Progress> {
  const deadline = Date.now() + timeoutMs;
  let p = await progress(engine, input);
  while (p.verdict === 'progressing' && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
    p = await progress(engine, input);
  }
  return p;
}

/** One line per task of a service (slot, image, desired and actual state, error), for failure reports. */
export async function taskStates(docker: Docker, service: string): Promise<string> {
  const tasks = (await docker.listTasks({ filters: { service: [service] } })) as Array<{
    Slot?: number;
    DesiredState: string;
    Status: { State: string; Timestamp?: string; Err?: string; Message?: string };
    Spec: { ContainerSpec?: { Image?: string } };
  }>;
  return tasks
    .map(
      (t) =>
        `  slot ${t.Slot ?? '-'} ${t.Spec.ContainerSpec?.Image ?? '?'} desired=${t.DesiredState} state=${t.Status.State} at ${t.Status.Timestamp ?? '?'} ${t.Status.Err ?? t.Status.Message ?? ''}`,
    )
    .join('\n');
}
