/**
 * Twenty real Swarm clusters (the most this machine's fleet brings up): a good release through the
 * canary and four waves of five, then a release that fails in the last wave and is rolled back on
 * every cluster it touched. The shared fleet has three clusters; this file rebuilds it with twenty
 * and gives the three back when it is done.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { up } from '../../local/fleet/fleet.js';
import type { LocalRuntime } from '../../local/runtime/runtime.js';
import {
  baseline,
  blockRegistry,
  clusterImages,
  finished,
  policy,
  release,
  runningImages,
  startRuntime,
} from './support.js';

const TRAFFIC_RPS = 1;
const CLUSTERS = Array.from({ length: 20 }, (_, i) => `c${i + 1}`);
const WAVES = [0, 1, 2, 3].map((w) => ({ name: `w${w + 1}`, clusters: CLUSTERS.slice(w * 5, w * 5 + 5) }));

/** Every cluster's primary and running tasks on `digestReference`, and no canary left. */
async function expectEverywhere(rt: LocalRuntime, digestReference: string) {
  const images = await clusterImages(rt);
  const running = await runningImages(rt);
  expect(Object.keys(images).sort()).toEqual([...CLUSTERS].sort());
  for (const c of CLUSTERS) {
    expect({ cluster: c, ...images[c] }).toEqual({ cluster: c, image: digestReference, canary: false });
    expect({ cluster: c, running: running[c] }).toEqual({ cluster: c, running: [digestReference] });
  }
}

describe('a real 20-cluster fleet, in waves of 5', () => {
  let rt: LocalRuntime;
  let good = '';
  const log = (line: string) => process.stderr.write(`[fleet] ${line}\n`);

  beforeAll(async () => {
    await up({ clusters: 20 }, log);
    rt = await startRuntime(
      policy({
        clusters: CLUSTERS,
        canary: { cluster: 'c1', percent: 50 },
        waves: WAVES,
        maxConcurrency: 5,
      }),
    );
    // Baseline: one replica of a known image on every cluster, sending itself one request a second.
    // Each request costs the demo app a shell process: twenty clusters at the default 5 requests a
    // second (and more replicas) would keep two cores busy with traffic alone.
    await baseline(rt, { trafficRps: TRAFFIC_RPS }, 1);
  }, 600_000);

  afterAll(async () => {
    await rt?.stop();
    await up({ clusters: 3 }, log);
  }, 300_000);

  it('promotes a good release to all 20 clusters through the canary and four waves', async () => {
    // Act
    const rel = await release(rt, { tag: 'v20.1.0', trafficRps: TRAFFIC_RPS });
    const [execution] = await finished(rt, rel.digest, 900_000);
    // Assert (the error and cause show when it did not succeed)
    expect({ status: execution?.status, error: execution?.error, cause: execution?.cause }).toEqual({
      status: 'SUCCEEDED',
      error: undefined,
      cause: undefined,
    });
    const output = JSON.parse(execution?.output ?? '{}') as { waves?: Array<{ name: string }> };
    expect(JSON.stringify(output)).not.toContain('"status":"failed"');
    await expectEverywhere(rt, rel.digestReference);
    good = rel.digestReference;
  });

  it('rolls back all 20 clusters when the release fails on c18 in the last wave, naming it', async () => {
    // Prepare: c18's manager cannot reach the registry; waves 1 to 3 promote before it is tried.
    expect(good).not.toBe('');
    const unblock = await blockRegistry(rt, 'c18');
    try {
      // Act
      const rel = await release(rt, { tag: 'v20.2.0', trafficRps: TRAFFIC_RPS });
      const [execution] = await finished(rt, rel.digest, 900_000);
      // Assert
      expect(execution?.status).toBe('FAILED');
      expect(execution?.error).toBe('WaveFailedError');
      expect(JSON.parse(execution?.cause ?? '{}').errorMessage).toMatch(
        /^wave w4: 1 cluster\(s\) failed \(budget 0\): c18: ImagePullError: /,
      );
      await expectEverywhere(rt, good);
    } finally {
      await unblock();
    }
  });
});
