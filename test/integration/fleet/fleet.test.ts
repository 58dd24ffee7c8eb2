import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FleetStatus } from '../../../local/fleet/fleet.js';
import {
  createDemoService,
  dockerFor,
  fleet,
  promQuery,
  pushDemo,
  registryAuth,
  removeServiceQuietly,
  uniqueTag,
  waitForRunning,
} from '../support/fleet.js';

const SERVICE = 'fleet-demo';

describe('the local fleet', () => {
  let f: FleetStatus;

  beforeAll(async () => {
    f = await fleet();
  });

  afterAll(async () => {
    for (const c of f?.clusters ?? []) await removeServiceQuietly(dockerFor(c), SERVICE);
  });

  it('has 3 clusters, each an active single-node swarm whose manager is itself', async () => {
    // Assess
    expect(f.healthy).toBe(true);
    expect(f.clusters.map((c) => c.name)).toEqual(['c1', 'c2', 'c3']);
    for (const c of f.clusters) {
      const docker = dockerFor(c);
      const info = await docker.info();
      expect(info.Swarm.LocalNodeState).toBe('active');
      expect(info.Swarm.ControlAvailable).toBe(true);
      expect(info.Swarm.NodeAddr).toBe(c.address);
      const nodes = await docker.listNodes();
      expect(nodes).toHaveLength(1);
      expect(nodes[0]?.ID).toBe(info.Swarm.NodeID);
      expect(nodes[0]?.Spec?.Role).toBe('manager');
      expect(nodes[0]?.ManagerStatus?.Leader).toBe(true);
    }
    // Each cluster is its own swarm, not one swarm seen three times.
    expect(new Set(f.clusters.map((c) => c.swarm?.nodeId)).size).toBe(3);
  });

  it('refuses a pull without credentials, naming the registry', async () => {
    // Prepare: a tag that no engine has pulled yet
    const image = await pushDemo(f, { tag: uniqueTag('noauth') });
    const docker = dockerFor(f.clusters[0] as FleetStatus['clusters'][number]);
    // Act
    const pull = docker.pull(image.reference);
    // Assess
    await expect(pull).rejects.toThrow(
      new RegExp(`${f.registry.address.replace(/\./g, '\\.')}.*no basic auth credentials`),
    );
  });

  it('runs a service of the demo image pulled with X-Registry-Auth on every cluster, and each Prometheus sees its 5xx share', async () => {
    // Prepare
    const image = await pushDemo(f, { tag: uniqueTag('fleet'), trafficRps: 8 });
    const auth = registryAuth(f);
    // Act: the same service on every cluster, by digest, as the deployer does
    for (const c of f.clusters) {
      const docker = dockerFor(c);
      await removeServiceQuietly(docker, SERVICE);
      await createDemoService(docker, {
        name: SERVICE,
        image: image.digestReference,
        replicas: 2,
        env: ['ERROR_RATE=0.3'],
        auth,
      });
    }
    await Promise.all(f.clusters.map((c) => waitForRunning(dockerFor(c), SERVICE, 2)));
    const started = Date.now();
    // Assess: within a minute, each cluster's Prometheus has request rates by code, 20-40% of them 5xx
    const query = `sum by (code) (rate(demo_http_requests_total{service="${SERVICE}"}[30s]))`;
    const shares = new Map<string, number>();
    while (Date.now() - started < 60_000 && shares.size < f.clusters.length) {
      for (const c of f.clusters) {
        if (shares.has(c.name)) continue;
        const byCode = new Map(
          (await promQuery(c.prometheusUrl, query)).map((s) => [s.labels.code, s.value]),
        );
        const ok = byCode.get('200') ?? 0;
        const failed = byCode.get('500') ?? 0;
        // Wait for a full window of data from both replicas before judging.
        const series = await promQuery(
          c.prometheusUrl,
          `count(count_over_time(demo_http_requests_total{service="${SERVICE}",code="200"}[30s]) >= 6)`,
        );
        if (ok + failed > 0 && (series[0]?.value ?? 0) >= 2) shares.set(c.name, failed / (ok + failed));
      }
      if (shares.size < f.clusters.length) await new Promise((r) => setTimeout(r, 2000));
    }
    expect([...shares.keys()].sort()).toEqual(['c1', 'c2', 'c3']);
    for (const [, share] of shares) {
      expect(share).toBeGreaterThanOrEqual(0.2);
      expect(share).toBeLessThanOrEqual(0.4);
    }
    // And the series carry the labels the analysis relies on.
    const c1 = f.clusters[0] as FleetStatus['clusters'][number];
    const labels = (await promQuery(c1.prometheusUrl, `demo_build_info{service="${SERVICE}"}`)).map(
      (s) => s.labels,
    );
    expect(labels).toHaveLength(2);
    for (const l of labels) {
      expect(l).toMatchObject({ cluster: 'c1', service: SERVICE, version: image.tag });
      expect(l.task_id).toMatch(/^[a-z0-9]{25}$/);
    }
  });
});
