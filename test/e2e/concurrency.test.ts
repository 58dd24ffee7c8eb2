import { SFNClient, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executionName } from '../../functions/lib/deploy/start.js';
import { causeMessage } from '../../functions/lib/deploy/steps/wave.js';
import type { LocalRuntime } from '../../local/runtime/runtime.js';
import {
  alertOf,
  alerts,
  baseline,
  callApi,
  clusterImages,
  deploymentIdOf,
  executionsFor,
  finished,
  policy,
  release,
  runningImages,
  setPolicy,
  startRuntime,
} from './support.js';

const everywhere = (image: string) => ({
  c1: { image, canary: false },
  c2: { image, canary: false },
  c3: { image, canary: false },
});

describe('one service, several pushes', () => {
  let rt: LocalRuntime;

  beforeAll(async () => {
    rt = await startRuntime();
  });
  afterAll(async () => {
    await rt?.stop();
  });

  it('starts one deployment for the same push event delivered twice, and again after it finished', async () => {
    await baseline(rt);
    const rel = await release(rt, { tag: 'v5.0.0' });
    // The registry's notification started the execution, named after the image; EventBridge delivers the same event again.
    let event: unknown;
    while (!event) {
      const [first] = await executionsFor(rt, rel.digest);
      event = first ? JSON.parse(first.input) : undefined;
      if (!event) await new Promise((r) => setTimeout(r, 200));
    }
    rt.bus.publish(event as never);
    await finished(rt, rel.digest);
    rt.bus.publish(event as never); // once more, after the deployment finished
    await rt.bus.idle();
    const all = await finished(rt, rel.digest);
    expect(all.map((e) => [e.name, e.status])).toEqual([
      [executionName('demo', 'v5.0.0', rel.digest), 'SUCCEEDED'],
    ]);
    expect(alerts(rt, rel.digest).filter((a) => a.transition === 'started')).toHaveLength(1);
    expect(await clusterImages(rt)).toEqual(everywhere(rel.digestReference));
  });

  it('queues a newer digest behind a running deployment, then deploys it', async () => {
    await setPolicy(rt, policy({ concurrency: 'queue' }));
    await baseline(rt);
    const first = await release(rt, { tag: 'v5.1.0' });
    await alertOf(rt, first.digest, 'canary-ready');
    const second = await release(rt, { tag: 'v5.2.0' });
    const [a] = await finished(rt, first.digest);
    const [b] = await finished(rt, second.digest);
    expect([a?.status, b?.status]).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    const firstDone = alerts(rt, first.digest).find((x) => x.transition === 'succeeded') as unknown as {
      at: string;
    };
    const secondStarted = alerts(rt, second.digest).find((x) => x.transition === 'started') as unknown as {
      at: string;
    };
    expect(secondStarted.at > firstDone.at).toBe(true); // one at a time
    expect(await clusterImages(rt)).toEqual(everywhere(second.digestReference));
  });

  it('supersedes a running deployment: it rolls back, then the newer digest deploys', async () => {
    await setPolicy(rt, policy({ concurrency: 'supersede' }));
    const base = await baseline(rt);
    const first = await release(rt, { tag: 'v5.3.0' });
    await alertOf(rt, first.digest, 'canary-ready');
    const second = await release(rt, { tag: 'v5.4.0' });
    const [a] = await finished(rt, first.digest);
    const [b] = await finished(rt, second.digest);
    expect(a?.status).toBe('FAILED');
    expect(a?.error).toBe('DeploymentAbortedError');
    expect(causeMessage(a?.cause)).toMatch(/was aborted: superseded by demo-v5-4-0-/);
    expect(b?.status).toBe('SUCCEEDED');
    expect((await alertOf(rt, first.digest, 'rolled-back')).summary).toMatch(/rolled back on c1/);
    expect(base.digest).not.toBe(second.digest);
    expect(await clusterImages(rt)).toEqual(everywhere(second.digestReference));
  });

  it('rejects a newer digest while a deployment runs, and finishes the running one', async () => {
    await setPolicy(rt, policy({ concurrency: 'reject' }));
    await baseline(rt);
    const first = await release(rt, { tag: 'v5.5.0' });
    await alertOf(rt, first.digest, 'canary-ready');
    const second = await release(rt, { tag: 'v5.6.0' });
    const [b] = await finished(rt, second.digest);
    const [a] = await finished(rt, first.digest);
    expect(b?.status).toBe('FAILED');
    expect(b?.error).toBe('DeploymentRejectedError');
    expect(causeMessage(b?.cause)).toMatch(
      /rejected by policy: deployment demo-v5-5-0-[\w-]+ \(sha256:\w+\) holds web/,
    );
    expect((await alertOf(rt, second.digest, 'rejected')).severity).toBe('warning');
    expect(a?.status).toBe('SUCCEEDED');
    expect(await clusterImages(rt)).toEqual(everywhere(first.digestReference));
  });

  it('aborted mid-wave through the API, leaves no cluster on a mix of digests', async () => {
    await setPolicy(
      rt,
      policy({
        waves: [
          { name: 'first', clusters: ['c1'], bakeSeconds: 15 },
          { name: 'rest', clusters: ['c2', 'c3'] },
        ],
      }),
    );
    const base = await baseline(rt);
    const rel = await release(rt, { tag: 'v5.7.0' });
    await alertOf(rt, rel.digest, 'wave-promoted'); // c1 runs the new digest, baking
    const id = await deploymentIdOf(rt, rel.digest);
    expect(
      (await callApi(rt, id, 'abort', 'arn:aws:iam::000000000000:user/bob', { reason: 'customer report' }))
        .status,
    ).toBe(202);
    const [execution] = await finished(rt, rel.digest);
    expect(execution?.status).toBe('FAILED');
    expect(execution?.error).toBe('DeploymentAbortedError');
    // The abort failed the bake's token at once: the cause is the abort's own sentence.
    expect(causeMessage(execution?.cause)).toMatch(
      /aborted by arn:aws:iam::000000000000:user\/bob: customer report/,
    );
    expect(await clusterImages(rt)).toEqual(everywhere(base.digestReference));
    expect(await runningImages(rt)).toEqual({
      c1: [base.digestReference],
      c2: [base.digestReference],
      c3: [base.digestReference],
    });
  });

  it('stopped with StopExecution mid-wave, is rolled back by the reaper: no cluster on a mix of digests', async () => {
    await setPolicy(
      rt,
      policy({
        waves: [
          { name: 'first', clusters: ['c1'], bakeSeconds: 15 },
          { name: 'rest', clusters: ['c2', 'c3'] },
        ],
      }),
    );
    const base = await baseline(rt);
    const rel = await release(rt, { tag: 'v5.8.0' });
    await alertOf(rt, rel.digest, 'wave-promoted'); // c1 runs the new digest, baking
    const [running] = await executionsFor(rt, rel.digest);
    const sfn = new SFNClient(rt.clientConfig);
    await sfn.send(
      new StopExecutionCommand({
        executionArn: running?.executionArn,
        error: 'OperatorStop',
        cause: 'stopped from the console',
      }),
    );
    sfn.destroy();
    await alertOf(rt, rel.digest, 'rolled-back');
    const executions = await finished(rt, rel.digest); // the stopped one and the reaper's rollback (its input carries the plan)
    const stopped = executions.find((e) => e.status === 'ABORTED');
    const reaped = executions.find((e) => e.name.startsWith('rollback-'));
    expect(stopped?.error).toBe('OperatorStop');
    expect(reaped?.status).toBe('FAILED');
    expect(reaped?.error).toBe('ExecutionStoppedError');
    expect(reaped?.cause).toMatch(
      /ended ABORTED \(OperatorStop: stopped from the console\) before it finished; rolling back the clusters it touched: c1$/,
    );
    expect(await clusterImages(rt)).toEqual(everywhere(base.digestReference));
    expect(await runningImages(rt)).toEqual({
      c1: [base.digestReference],
      c2: [base.digestReference],
      c3: [base.digestReference],
    });
    expect((await alertOf(rt, rel.digest, 'rolled-back')).summary).toMatch(
      /rolled back on c1: ExecutionStoppedError/,
    );
  });
});
