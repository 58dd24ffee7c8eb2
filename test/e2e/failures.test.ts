import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startClusterEngine, status, stopClusterEngine } from '../../local/fleet/fleet.js';
import type { LocalRuntime } from '../../local/runtime/runtime.js';
import {
  alerts,
  baseline,
  blockRegistry,
  clusterImages,
  finished,
  policy,
  release,
  runningImages,
  startRuntime,
} from './support.js';

/** Failures that happen away from the canary: in the fan-out, and before anything changes. */
describe('failures outside the canary', () => {
  let rt: LocalRuntime;
  const undo: Array<() => Promise<unknown>> = [];

  beforeAll(async () => {
    // One cluster per wave, so that c1 and c2 are promoted before c3 is tried.
    rt = await startRuntime(
      policy({
        waves: [
          { name: 'one', clusters: ['c1'] },
          { name: 'two', clusters: ['c2'] },
          { name: 'three', clusters: ['c3'] },
        ],
      }),
    );
  });
  afterEach(async () => {
    for (const u of undo.splice(0)) await u();
  });
  afterAll(async () => {
    await rt?.stop();
  });

  it('rolls back the first two clusters too when the release fails on the third, naming the cluster and the reason', async () => {
    // Prepare: c3's manager cannot reach the registry (the failure is injected into c3 only)
    const base = await baseline(rt);
    undo.push(await blockRegistry(rt, 'c3'));
    // Act
    const rel = await release(rt, { tag: 'v2.0.0' });
    const [execution] = await finished(rt, rel.digest);
    // Assess
    expect(execution?.status).toBe('FAILED');
    expect(execution?.error).toBe('WaveFailedError');
    expect(JSON.parse(execution?.cause ?? '{}').errorMessage).toMatch(
      /^wave three: 1 cluster\(s\) failed \(budget 0\): c3: ImagePullError: .*cannot be pulled/,
    );
    expect(await clusterImages(rt)).toEqual({
      c1: { image: base.digestReference, canary: false },
      c2: { image: base.digestReference, canary: false },
      c3: { image: base.digestReference, canary: false },
    });
    expect(await runningImages(rt)).toEqual({
      c1: [base.digestReference],
      c2: [base.digestReference],
      c3: [base.digestReference],
    });
    const sent = alerts(rt, rel.digest);
    expect(sent.map((a) => a.transition)).toEqual([
      'started',
      'canary-ready',
      'wave-promoted',
      'wave-promoted',
      'rolled-back',
    ]);
    expect(sent.at(-1)?.summary).toMatch(
      /rolled back on c1, c2, c3: WaveFailedError: wave three: .*c3: ImagePullError/,
    );
  });

  it('gives up on a cluster whose engine is stopped after its unreachable bound, before anything changes', async () => {
    // Prepare
    const base = await baseline(rt);
    await stopClusterEngine('c2');
    undo.push(() => startClusterEngine('c2'));
    // Act
    const rel = await release(rt, { tag: 'v2.1.0' });
    const [execution] = await finished(rt, rel.digest);
    // Assess
    expect(execution?.status).toBe('FAILED');
    // Retried for the cluster's unreachableSeconds (20 s here), then given up on, naming the cluster.
    expect(execution?.error).toBe('ClusterUnreachableError');
    expect(JSON.parse(execution?.cause ?? '{}').errorMessage).toMatch(
      /^cluster c2 \(\S+\) has been unreachable for \d+ s \(bound 20 s; last: EngineUnreachableError: cluster c2: GET \/version: .*\); its state could not be verified$/,
    );
    expect(alerts(rt, rel.digest).map((a) => a.transition)).toEqual(['started', 'rolled-back']);
    expect(alerts(rt, rel.digest).at(-1)?.summary).toMatch(
      /rolled back on no cluster \(nothing had changed\): ClusterUnreachableError: cluster c2 .*its state could not be verified/,
    );
    await startClusterEngine('c2');
    undo.length = 0;
    expect((await status()).healthy).toBe(true);
    expect(await clusterImages(rt)).toEqual({
      c1: { image: base.digestReference, canary: false },
      c2: { image: base.digestReference, canary: false },
      c3: { image: base.digestReference, canary: false },
    });
  });
});
