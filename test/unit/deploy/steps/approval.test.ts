import { describe, expect, it } from 'vitest';
import { decide, NoPendingApprovalError } from '../../../../functions/lib/deploy/approval.js';
import { DeploymentAbortedError } from '../../../../functions/lib/deploy/errors.js';
import {
  abortDeployment,
  bakeWaveStep,
  requestApprovalStep,
} from '../../../../functions/lib/deploy/steps/index.js';
import { caught, deployPlan, fakes, useStand } from './harness.js';

/** Manual approval, bakes and aborts: the task tokens a person or an abort answers. */

const stand = useStand();

const TOKEN = 'AAAAKgAAAAIAAAAAAAAAAZsecret-task-token';

describe('requestApprovalStep', () => {
  it('stores the task token and tells people how to decide, never sending the token', async () => {
    // prepare
    const f = fakes(stand);
    const { deployment: d } = await deployPlan();

    // act
    const out = await requestApprovalStep(f.deps, { deployment: d, taskToken: TOKEN, timeoutSeconds: 900 });

    // assess
    expect(out).toEqual({ requested: true });
    expect(await stand.record.waitingTask(d.id, 'approval')).toEqual({ kind: 'approval', token: TOKEN });
    const told = f.notifier.of('awaiting-approval');
    expect(told).toHaveLength(1);
    expect(told[0]?.summary).toContain(`POST /deployments/${d.id}/approve`);
    expect(told[0]?.summary).toContain('900 s');
    expect(JSON.stringify(f.notifier.published)).not.toContain(TOKEN);
  });

  it('honours an abort requested before the token was stored', async () => {
    // prepare
    const f = fakes(stand);
    const { deployment: d } = await deployPlan();
    await stand.record.requestAbort(d.id, 'aborted through the API by alice');

    // act
    const error = await caught(() =>
      requestApprovalStep(f.deps, { deployment: d, taskToken: TOKEN, timeoutSeconds: 900 }),
    );

    // assess
    expect(error).toBeInstanceOf(DeploymentAbortedError);
    expect(error.message).toContain('aborted through the API by alice');
    expect(f.notifier.delivered).toEqual([]);
  });
});

describe('abortDeployment', () => {
  it('fails the waiting approval and bake at once, so the deployment rolls back now', async () => {
    // prepare
    const f = fakes(stand);
    const { deployment: d } = await deployPlan();
    await requestApprovalStep(f.deps, { deployment: d, taskToken: 'approval-token', timeoutSeconds: 900 });
    await bakeWaveStep(f.deps, { deployment: d, wave: 'eu', taskToken: 'bake-token' });

    // act
    const out = await abortDeployment(f.deps, d.id, 'bad build, said bob');

    // assess
    expect(out).toEqual({ interrupted: ['approval', 'bake'] });
    expect(f.workflow.failures).toEqual([
      {
        token: 'approval-token',
        error: 'DeploymentAbortedError',
        cause: expect.stringContaining('bad build, said bob'),
      },
      {
        token: 'bake-token',
        error: 'DeploymentAbortedError',
        cause: expect.stringContaining('bad build, said bob'),
      },
    ]);
    expect(await stand.record.abortRequested(d.id)).toBe('bad build, said bob');
    expect(await stand.record.waitingTask(d.id, 'approval')).toBeUndefined();
    expect(await stand.record.waitingTask(d.id, 'bake')).toBeUndefined();
  });

  it('records the abort even when nothing waits, and interrupts nothing', async () => {
    // prepare
    const f = fakes(stand);
    const { deployment: d } = await deployPlan();
    await stand.record.saveWaitingTask(d.id, { kind: 'bake', token: 'expired-bake', key: 'eu' });
    f.workflow.gone.add('expired-bake'); // the bake already ended

    // act
    const out = await abortDeployment(f.deps, d.id, 'no longer wanted');

    // assess
    expect(out).toEqual({ interrupted: [] });
    expect(await stand.record.abortRequested(d.id)).toBe('no longer wanted');
    expect(await stand.record.waitingTask(d.id, 'bake')).toBeUndefined();
  });
});

describe('decide', () => {
  it('approves the waiting canary with the approver named, once', async () => {
    // prepare
    const f = fakes(stand);
    const { deployment: d } = await deployPlan();
    await requestApprovalStep(f.deps, { deployment: d, taskToken: TOKEN, timeoutSeconds: 900 });

    // act
    const out = await decide(
      f.deps,
      { deploymentId: d.id, approver: 'arn:aws:iam::1:user/alice' },
      'approve',
    );
    const again = await caught(() =>
      decide(f.deps, { deploymentId: d.id, approver: 'arn:aws:iam::1:user/bob' }, 'approve'),
    );

    // assess
    expect(out).toEqual({ deploymentId: d.id, decision: 'approved', approver: 'arn:aws:iam::1:user/alice' });
    expect(f.workflow.successes).toEqual([
      {
        token: TOKEN,
        output: expect.objectContaining({ decision: 'approved', approver: 'arn:aws:iam::1:user/alice' }),
      },
    ]);
    expect(again).toBeInstanceOf(NoPendingApprovalError);
    expect(await stand.record.waitingTask(d.id, 'approval')).toBeUndefined();
  });

  it('rejects the waiting canary with ApprovalRejectedError naming the approver and reason', async () => {
    // prepare
    const f = fakes(stand);
    const { deployment: d } = await deployPlan();
    await requestApprovalStep(f.deps, { deployment: d, taskToken: TOKEN, timeoutSeconds: 900 });

    // act
    const out = await decide(f.deps, { deploymentId: d.id, approver: 'carol', reason: 'latency' }, 'reject');

    // assess
    expect(out.decision).toBe('rejected');
    expect(f.workflow.failures).toEqual([
      { token: TOKEN, error: 'ApprovalRejectedError', cause: 'rejected by carol: latency' },
    ]);
  });

  it('answers NoPendingApprovalError when no approval waits', async () => {
    // prepare
    const f = fakes(stand);
    const { deployment: d } = await deployPlan();

    // act
    const error = await caught(() => decide(f.deps, { deploymentId: d.id, approver: 'alice' }, 'approve'));

    // assess
    expect(error).toBeInstanceOf(NoPendingApprovalError);
    expect(error.message).toContain(`${d.id} is not waiting for approval`);
    expect(f.workflow.successes).toEqual([]);
  });

  it('answers NoPendingApprovalError when the token is gone (the wait timed out)', async () => {
    // prepare
    const f = fakes(stand);
    const { deployment: d } = await deployPlan();
    await requestApprovalStep(f.deps, { deployment: d, taskToken: TOKEN, timeoutSeconds: 900 });
    f.workflow.gone.add(TOKEN);

    // act
    const error = await caught(() => decide(f.deps, { deploymentId: d.id, approver: 'alice' }, 'approve'));

    // assess
    expect(error).toBeInstanceOf(NoPendingApprovalError);
    expect(error.message).toContain(`${d.id} no longer waits for approval`);
  });
});
