import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../../functions/lib/swarm/engine.js';
import { preflight } from '../../../functions/lib/swarm/operations.js';
import { down, type FleetStatus, up } from '../../../local/fleet/fleet.js';
import type { FleetOptions } from '../../../local/fleet/layout.js';
import { dockerFor } from '../support/fleet.js';

/** A fleet of its own, whose engines are made into a worker and a node outside any swarm. */
const OPTS: Partial<FleetOptions> = { name: 'dplw', clusters: 2, subnet: 236 };

describe('preflight against a node that is not a swarm manager', () => {
  let f: FleetStatus;
  const engineOf = (i: number, cluster: string) =>
    Engine.connect({
      cluster,
      socketPath: (f.clusters[i] as FleetStatus['clusters'][number]).dockerHost.replace('unix://', ''),
    });

  beforeAll(async () => {
    f = await up(OPTS);
  });

  afterAll(async () => {
    await down(OPTS);
  });

  it('fails for a worker node, saying it is a worker', async () => {
    // Prepare: c2 leaves its own swarm and joins c1's as a worker
    const [c1, c2] = f.clusters as [FleetStatus['clusters'][number], FleetStatus['clusters'][number]];
    const manager = dockerFor(c1);
    const token = ((await manager.swarmInspect()) as { JoinTokens: { Worker: string } }).JoinTokens.Worker;
    const worker = dockerFor(c2);
    await worker.swarmLeave({ force: true });
    await worker.swarmJoin({
      ListenAddr: '0.0.0.0:2377',
      AdvertiseAddr: c2.address,
      RemoteAddrs: [`${c1.address}:2377`],
      JoinToken: token,
    });
    // Act
    const attempt = preflight(await engineOf(1, 'edge-2'), { service: 'web', minEngineVersion: '20.10.0' });
    // Assess
    await expect(attempt).rejects.toMatchObject({
      name: 'NotSwarmManagerError',
      message: expect.stringMatching(
        /^cluster edge-2: the node \w+ is a swarm worker, not a manager; point the cluster at a manager$/,
      ),
    });
  });

  it('fails for a node outside any swarm, saying so', async () => {
    // Prepare
    await dockerFor(f.clusters[1] as FleetStatus['clusters'][number]).swarmLeave({ force: true });
    // Act
    const attempt = preflight(await engineOf(1, 'edge-2'), { service: 'web', minEngineVersion: '20.10.0' });
    // Assess
    await expect(attempt).rejects.toMatchObject({
      name: 'NotSwarmManagerError',
      message:
        'cluster edge-2: the node is not part of a swarm (state "inactive"); the endpoint must be a swarm manager',
    });
  });
});
