import { afterAll, describe, expect, it } from 'vitest';
import {
  down,
  fleetProcesses,
  leftovers,
  status,
  stopClusterEngine,
  stopClusterPrometheus,
  up,
} from '../../../local/fleet/fleet.js';
import type { FleetOptions } from '../../../local/fleet/layout.js';
import { createDemoService, dockerFor, pushDemo, registryAuth, waitForRunning } from '../support/fleet.js';

/** A fleet of its own (other name, other subnet), so that killing it leaves the shared fleet alone. */
const OPTS: Partial<FleetOptions> = { name: 'dplt', clusters: 1, subnet: 232 };

describe('fleet lifecycle', () => {
  afterAll(async () => {
    await down(OPTS);
  });

  it('is idempotent, recovers after a kill -9 of every fleet process, and leaves nothing behind on down', async () => {
    // Prepare: a fleet with a running service, so that there are containers, shims and mounts
    const first = await up(OPTS);
    expect(first.healthy).toBe(true);
    const cluster = first.clusters[0] as (typeof first.clusters)[number];
    const image = await pushDemo(first, { tag: 'life', trafficRps: 0 });
    await createDemoService(dockerFor(cluster), {
      name: 'life',
      image: image.digestReference,
      replicas: 1,
      auth: registryAuth(first),
    });
    await waitForRunning(dockerFor(cluster), 'life', 1);

    // Act 1: up again on a healthy fleet
    const again = await up(OPTS);
    // Assess 1: nothing was rebuilt
    expect(again.clusters[0]?.swarm?.nodeId).toBe(cluster.swarm?.nodeId);

    // Act 1b: one engine and one Prometheus stop; up restarts just them
    await stopClusterEngine('c1', OPTS);
    await stopClusterPrometheus('c1', OPTS);
    expect((await status(OPTS)).healthy).toBe(false);
    const repaired = await up(OPTS);
    // Assess 1b: healthy again, same swarm (not rebuilt), the service still there
    expect(repaired.healthy).toBe(true);
    expect(repaired.clusters[0]?.swarm?.nodeId).toBe(cluster.swarm?.nodeId);
    await waitForRunning(dockerFor(cluster), 'life', 1);

    // Act 2: kill -9 every process of the fleet, containers included
    const pids = await fleetProcesses(OPTS);
    expect(pids.length).toBeGreaterThanOrEqual(5); // dockerd, containerd, shim, container, prometheus, registry
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    await expect.poll(async () => (await status(OPTS)).healthy, { timeout: 10_000 }).toBe(false);
    const recovered = await up(OPTS);
    // Assess 2: a new, healthy fleet that pulls and runs the demo image again
    expect(recovered.healthy).toBe(true);
    expect(recovered.clusters[0]?.swarm?.nodeId).not.toBe(cluster.swarm?.nodeId);
    const c = recovered.clusters[0] as (typeof recovered.clusters)[number];
    const image2 = await pushDemo(recovered, { tag: 'life2', trafficRps: 0 });
    await createDemoService(dockerFor(c), {
      name: 'life',
      image: image2.digestReference,
      replicas: 1,
      auth: registryAuth(recovered),
    });
    await waitForRunning(dockerFor(c), 'life', 1);

    // Act 3
    await down(OPTS);
    // Assess 3: no process, namespace, veth, cgroup, mount, iptables rule or state left
    expect(await leftovers(OPTS)).toEqual({
      processes: [],
      namespaces: [],
      interfaces: [],
      cgroups: [],
      mounts: [],
      iptablesRules: [],
      stateDir: false,
    });
  });
});
