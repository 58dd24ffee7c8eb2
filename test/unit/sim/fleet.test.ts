/**
 * A simulated fleet: 50 clusters with their engines, Prometheus endpoints and SSM agents. Every
 * agent forwards to its own cluster's endpoints, the real operations run through an SSM tunnel
 * (openTunnel: StartSession, the stand-in, the cluster's agent, smux) to the ports the cluster
 * entry names, faults stay on their cluster, and stop() leaves nothing listening.
 */
import net from 'node:net';
import { SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterSchema } from '../../../functions/lib/config/schema.js';
import { PrometheusClient } from '../../../functions/lib/prometheus/client.js';
import { openTunnel } from '../../../functions/lib/ssm/index.js';
import { Engine } from '../../../functions/lib/swarm/engine.js';
import { canaryName, deployCanary, preflight, snapshot } from '../../../functions/lib/swarm/operations.js';
import type { ServiceSpec } from '../../../functions/lib/swarm/types.js';
import { type SimFleet, type SimImage, SimRegistry, startSimFleet } from '../../../local/sim/index.js';
import { SCALE, settle } from './support.js';

const N = 50;
/** Tunnels are slow on a loaded machine (two cores shared with the real fleet): generous bounds. */
const SLOW = 120_000;
let fleet: SimFleet;
let ssm: SSMClient;
let v1: SimImage;
let v2: SimImage;
let ports: number[] = [];

const web = (image: string): ServiceSpec => ({
  Name: 'web',
  Labels: { 'deployer.scrape': 'true' },
  TaskTemplate: { ContainerSpec: { Image: image, Env: ['TRAFFIC_RPS=5'] } },
  Mode: { Replicated: { Replicas: 2 } },
});

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

beforeAll(async () => {
  const registry = new SimRegistry();
  v1 = registry.add({ tag: 'v1' });
  v2 = registry.add({ tag: 'v2' });
  fleet = await startSimFleet({
    clusters: N,
    registry,
    cluster: { timeScale: SCALE, workers: 1 },
    services: [web(v1.digestReference)],
    labels: (_name, i) => ({ wave: i === 0 ? 'first' : 'rest' }),
  });
  ssm = new SSMClient({
    endpoint: fleet.standIn?.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIASIMFLEET', secretAccessKey: 'not-checked' },
    maxAttempts: 1,
  });
  ports = [...fleet.members.flatMap((m) => [m.enginePort, m.prometheusPort]), fleet.standIn?.port as number];
}, SLOW);

afterAll(async () => {
  ssm?.destroy();
  await fleet?.stop();
});

describe('a simulated fleet', () => {
  it("starts N clusters whose entries the deployer's configuration accepts", () => {
    expect(fleet.clusters).toHaveLength(N);
    for (const entry of fleet.clusters) expect(clusterSchema.parse(entry)).toEqual(entry);
    expect(fleet.clusters[0]).toMatchObject({
      name: 'sim-001',
      target: expect.stringMatching(/^mi-[0-9a-f]{17}$/),
      labels: { simulated: 'true', wave: 'first' },
    });
    expect(new Set(fleet.clusters.map((c) => c.target)).size).toBe(N);
    expect(new Set(ports).size).toBe(2 * N + 1);
  });

  it(
    "has every agent answer, each forwarding to its own cluster's engine",
    async () => {
      const answered: string[] = [];
      for (let i = 0; i < N; i += 10) {
        await Promise.all(
          fleet.members.slice(i, i + 10).map(async (m) => {
            const tunnel = await openTunnel({
              ssm,
              target: m.config.target,
              portNumber: m.config.engine.port,
            });
            try {
              const engine = await Engine.connect({
                cluster: m.config.name,
                host: '127.0.0.1',
                port: m.config.engine.port,
                agent: tunnel.agent,
              });
              const info = await engine.request<{ Name: string; Swarm: { NodeID: string } }>({
                method: 'GET',
                path: '/info',
              });
              expect(info.Swarm.NodeID).toBe(m.cluster.manager.id);
              answered.push(info.Name);
            } finally {
              await tunnel.close();
            }
          }),
        );
      }
      expect(answered.sort()).toEqual(fleet.members.map((m) => `${m.config.name}-manager`).sort());
    },
    SLOW,
  );

  it(
    'runs the real operations through an SSM tunnel to the ports the cluster entry names',
    async () => {
      // Prepare: the entry's engine port and Prometheus tunnel port, as withEngine and withPrometheus use them
      const { config } = fleet.member('sim-007');
      const tunnelPort = 'tunnelPort' in config.prometheus ? config.prometheus.tunnelPort : 0;
      const engineTunnel = await openTunnel({ ssm, target: config.target, portNumber: config.engine.port });
      const promTunnel = await openTunnel({ ssm, target: config.target, portNumber: tunnelPort });
      try {
        const engine = await Engine.connect({
          cluster: config.name,
          host: '127.0.0.1',
          port: config.engine.port,
          agent: engineTunnel.agent,
        });
        // Act: preflight, then a canary that converges, over one tunnel
        const pre = await preflight(engine, { service: 'web', minEngineVersion: config.minEngineVersion });
        const snap = await snapshot(engine, 'web');
        await deployCanary(engine, {
          ref: { deploymentId: 'd-fleet', cluster: config.name, service: 'web' },
          snapshot: snap,
          image: v2.digestReference,
          percent: 50,
        });
        const converged = await settle(engine, { service: canaryName('web'), image: v2.digestReference });
        // Act: the cluster's Prometheus through its own tunnel
        const client = new PrometheusClient({
          url: `http://127.0.0.1:${tunnelPort}`,
          agent: promTunnel.agent,
        });
        const up = await client.query('sum(up{service="web"})');
        // Assess
        expect(pre).toMatchObject({ cluster: 'sim-007', readyNodes: 2, replicas: 2 });
        expect(converged).toMatchObject({ verdict: 'converged', runningOnTarget: 1 });
        expect(up.samples).toEqual([{ labels: {}, value: 2, timestampMs: expect.any(Number) }]);
        // Only that cluster has a canary
        expect(fleet.members.filter((m) => m.cluster.services.size > 1).map((m) => m.config.name)).toEqual([
          'sim-007',
        ]);
      } finally {
        await engineTunnel.close();
        await promTunnel.close();
      }
    },
    SLOW,
  );

  it(
    'injects faults per cluster: a pull that fails on one cluster only, an engine that is down',
    async () => {
      const [a, b] = fleet.members as [SimFleet['members'][number], SimFleet['members'][number]];
      a.cluster.faults.failPull.set(v2.digest, undefined);
      const engineA = await Engine.connect({ cluster: a.config.name, host: '127.0.0.1', port: a.enginePort });
      const engineB = await Engine.connect({ cluster: b.config.name, host: '127.0.0.1', port: b.enginePort });
      await expect(engineA.pullImage(v2.digestReference, undefined)).rejects.toMatchObject({
        name: 'ImagePullError',
      });
      await expect(engineB.pullImage(v2.digestReference, undefined)).resolves.toBeUndefined();
      a.cluster.faults.failPull.clear();

      b.cluster.faults.down = true;
      await b.cluster.faults.settled();
      expect(await refused(b.enginePort)).toBe(true);
      expect(await refused(b.prometheusPort)).toBe(false);
      // Through the agent: the session opens, the agent's dial to the engine's port fails.
      const tunnel = await openTunnel({ ssm, target: b.config.target, portNumber: b.enginePort });
      try {
        await expect(
          Engine.connect({
            cluster: b.config.name,
            host: '127.0.0.1',
            port: b.enginePort,
            agent: tunnel.agent,
          }),
        ).rejects.toMatchObject({ name: 'EngineUnreachableError' });
      } finally {
        await tunnel.close();
      }
      b.cluster.faults.down = false;
      await b.cluster.faults.settled();
      expect(await refused(b.enginePort)).toBe(false);
    },
    SLOW,
  );

  it('stops, leaving nothing listening', async () => {
    await fleet.stop();
    const stillOpen = [];
    for (const port of ports) if (!(await refused(port))) stillOpen.push(port);
    expect(stillOpen).toEqual([]);
    expect(fleet.connectionCount()).toBe(0);
  });
});
