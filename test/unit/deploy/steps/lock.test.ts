import { describe, expect, it } from 'vitest';
import {
  DeploymentAbortedError,
  DeploymentRejectedError,
  LockLostError,
  LockTimeoutError,
} from '../../../../functions/lib/deploy/errors.js';
import { failIfAborted } from '../../../../functions/lib/deploy/steps/context.js';
import {
  acquireLockStep,
  rollbackExecutionName,
  takeOverLockStep,
} from '../../../../functions/lib/deploy/steps/index.js';
import {
  caught,
  type DeployPlan,
  deployPlan,
  executionArn,
  type Fakes,
  fakes,
  NOW,
  nextPlan,
  STATE_MACHINE,
  useStand,
} from './harness.js';

/** AcquireLock and TakeOverLock: who deploys a service, and what happens to whoever was in the way. */

const stand = useStand();

const arnOf = (plan: DeployPlan) => executionArn(plan.deployment.id);

/** `plan`'s execution takes the lock (queue policy) as the workflow's AcquireLock does. */
const acquire = (
  f: Fakes,
  plan: DeployPlan,
  over: { concurrency?: 'queue' | 'supersede' | 'reject'; queueDeadline?: string } = {},
) =>
  acquireLockStep(f.deps, {
    plan,
    concurrency: over.concurrency ?? 'queue',
    executionArn: arnOf(plan),
    ...(over.queueDeadline ? { queueDeadline: over.queueDeadline } : {}),
  });

/** A deployment that holds its service's lock, its plan stored, its execution in `status`. */
async function holding(f: Fakes, status: string): Promise<DeployPlan> {
  const plan = await deployPlan();
  expect((await acquire(f, plan)).status).toBe('acquired');
  f.workflow.statuses.set(arnOf(plan), status);
  return plan;
}

describe('acquireLockStep', () => {
  it('takes a free lock, stores the plan as the deployment record and says "started" once', async () => {
    // prepare
    const f = fakes(stand);
    const plan = await deployPlan();

    // act
    const outcome = await acquire(f, plan);
    const retry = await acquire(f, plan); // the workflow retries the task after a lost answer

    // assess
    expect(outcome).toEqual({ status: 'acquired', queueDeadline: '2031-05-04T11:00:00.000Z' });
    expect(retry.status).toBe('acquired');
    expect(await stand.record.plan(plan.deployment.id)).toEqual(plan);
    expect(await stand.record.phase(plan.deployment.id)).toBe('running');
    expect(await stand.record.lockHolder(plan.deployment.service)).toMatchObject({
      deploymentId: plan.deployment.id,
      executionArn: arnOf(plan),
      mode: 'deploy',
    });
    expect(f.notifier.of('started')).toHaveLength(1);
    expect(f.notifier.of('started')[0]?.summary).toContain(plan.deployment.digest);
    expect(f.notifier.delivered).toHaveLength(1);
  });

  it('queues behind a running holder, naming it', async () => {
    // prepare
    const f = fakes(stand);
    const holder = await holding(f, 'RUNNING');
    const plan = await nextPlan(holder);

    // act
    const outcome = await acquire(f, plan);

    // assess
    expect(outcome).toMatchObject({ status: 'busy', holder: holder.deployment.id });
    expect(outcome.status === 'busy' && outcome.message).toContain(`deployment ${holder.deployment.id}`);
    expect(outcome.status === 'busy' && outcome.message).toContain('waiting (queue)');
    expect(await stand.record.lockHolder(plan.deployment.service)).toMatchObject({
      executionArn: arnOf(holder),
    });
    expect(await stand.record.plan(plan.deployment.id)).toBeUndefined();
    expect(f.notifier.of('started').map((n) => n.deploymentId)).toEqual([holder.deployment.id]);
  });

  it('rejects under the "reject" policy, telling people who holds the service', async () => {
    // prepare
    const f = fakes(stand);
    const holder = await holding(f, 'RUNNING');
    const plan = await nextPlan(holder);

    // act
    const error = await caught(() => acquire(f, plan, { concurrency: 'reject' }));

    // assess
    expect(error).toBeInstanceOf(DeploymentRejectedError);
    expect(error.message).toContain(holder.deployment.id);
    expect(f.notifier.of('rejected')).toHaveLength(1);
    expect(f.notifier.of('rejected')[0]).toMatchObject({ deploymentId: plan.deployment.id });
    expect(f.notifier.of('rejected')[0]?.summary).toContain(holder.deployment.id);
    expect(await stand.record.lockHolder(plan.deployment.service)).toMatchObject({
      executionArn: arnOf(holder),
    });
  });

  it('supersedes a running holder: its abort is requested and its waiting approval failed at once', async () => {
    // prepare
    const f = fakes(stand);
    const holder = await holding(f, 'RUNNING');
    await stand.record.saveWaitingTask(holder.deployment.id, { kind: 'approval', token: 'approval-token-1' });
    const plan = await nextPlan(holder);

    // act
    const outcome = await acquire(f, plan, { concurrency: 'supersede' });

    // assess
    expect(outcome).toMatchObject({ status: 'busy', holder: holder.deployment.id });
    expect(await stand.record.abortRequested(holder.deployment.id)).toContain(
      `superseded by ${plan.deployment.id}`,
    );
    expect(f.workflow.failures).toEqual([
      {
        token: 'approval-token-1',
        error: 'DeploymentAbortedError',
        cause: expect.stringContaining('superseded'),
      },
    ]);
    expect(await stand.record.waitingTask(holder.deployment.id, 'approval')).toBeUndefined();
    // every later step of the holder checks the request before changing anything
    await expect(failIfAborted(f.deps, holder.deployment)).rejects.toBeInstanceOf(DeploymentAbortedError);
  });

  it('never aborts a running rollback, even under the "supersede" policy', async () => {
    // prepare: the rollback of a stopped deployment holds the lock
    const f = fakes(stand);
    const stopped = await holding(f, 'ABORTED');
    const rollbackArn = executionArn(rollbackExecutionName(stopped.deployment.id));
    await takeOverLockStep(f.deps, {
      deployment: stopped.deployment,
      from: arnOf(stopped),
      executionArn: rollbackArn,
    });
    f.workflow.statuses.set(rollbackArn, 'RUNNING');
    const plan = await nextPlan(stopped);

    // act
    const outcome = await acquire(f, plan, { concurrency: 'supersede' });

    // assess
    expect(outcome).toMatchObject({ status: 'busy', holder: stopped.deployment.id });
    expect(await stand.record.abortRequested(stopped.deployment.id)).toBeUndefined();
    expect(f.workflow.failures).toEqual([]);
  });

  it('steps aside for a newer push of the service', async () => {
    // prepare
    const f = fakes(stand);
    const plan = await deployPlan();
    await stand.record.notePush(plan.deployment.service, 'sha256:newer', '2031-05-04T09:59:30Z');

    // act
    const outcome = await acquire(f, plan);

    // assess
    expect(outcome.status).toBe('superseded');
    expect(await stand.record.lockHolder(plan.deployment.service)).toBeUndefined();
    expect(f.notifier.delivered).toEqual([]);
  });

  it('keeps the lock it took when a newer push arrives before its retry', async () => {
    // prepare: the first answer was lost (the task is retried) and a newer push was planned meanwhile
    const f = fakes(stand);
    const plan = await deployPlan();
    expect((await acquire(f, plan)).status).toBe('acquired');
    await stand.record.notePush(plan.deployment.service, 'sha256:newer', '2031-05-04T09:59:30Z');

    // act
    const retry = await acquire(f, plan);

    // assess: it deploys (the newer one queues behind it) rather than ending with the lock still held
    expect(retry.status).toBe('acquired');
    expect(await stand.record.lockHolder(plan.deployment.service)).toMatchObject({
      executionArn: arnOf(plan),
    });
    expect(f.notifier.of('started')).toHaveLength(1);
  });

  it('takes the lock over from a holder whose execution ended after it finished', async () => {
    // prepare
    const f = fakes(stand);
    const holder = await holding(f, 'SUCCEEDED');
    await stand.record.finish(holder.deployment.id, 'succeeded'); // its release was lost
    const plan = await nextPlan(holder);

    // act
    const outcome = await acquire(f, plan);

    // assess
    expect(outcome.status).toBe('acquired');
    expect(await stand.record.lockHolder(plan.deployment.service)).toMatchObject({
      executionArn: arnOf(plan),
    });
    expect(f.workflow.starts).toEqual([]);
  });

  it('starts the rollback of a holder that ended unfinished after touching clusters, and waits for it', async () => {
    // prepare
    const f = fakes(stand);
    const holder = await holding(f, 'ABORTED');
    await stand.record.markTouched(holder.deployment.id, 'a', 'canary', NOW.toISOString());
    const plan = await nextPlan(holder);

    // act
    const outcome = await acquire(f, plan);

    // assess
    expect(outcome).toMatchObject({ status: 'busy', holder: holder.deployment.id });
    expect(outcome.status === 'busy' && outcome.message).toContain('its rollback runs first');
    expect(f.workflow.starts).toEqual([
      {
        stateMachineArn: STATE_MACHINE,
        name: rollbackExecutionName(holder.deployment.id),
        input: {
          mode: 'rollback',
          plan: holder,
          error: {
            Error: 'ExecutionStoppedError',
            Cause: expect.stringContaining('the clusters it touched: a'),
          },
          from: arnOf(holder),
        },
        started: true,
      },
    ]);
    expect(await stand.record.lockHolder(plan.deployment.service)).toMatchObject({
      executionArn: arnOf(holder),
    });
    expect(f.notifier.of('started').map((n) => n.deploymentId)).toEqual([holder.deployment.id]);
  });

  it('releases the lock of a holder that ended unfinished having touched nothing, and takes it', async () => {
    // prepare
    const f = fakes(stand);
    const holder = await holding(f, 'FAILED');
    const plan = await nextPlan(holder);

    // act
    const outcome = await acquire(f, plan);

    // assess
    expect(outcome.status).toBe('acquired');
    expect(await stand.record.lockHolder(plan.deployment.service)).toMatchObject({
      executionArn: arnOf(plan),
    });
    expect(await stand.record.phase(holder.deployment.id)).toBe('failed');
    expect(f.workflow.starts).toEqual([]);
    expect(f.notifier.of('deployment-failed').map((n) => n.deploymentId)).toEqual([holder.deployment.id]);
    expect(f.notifier.of('started').map((n) => n.deploymentId)).toEqual([
      holder.deployment.id,
      plan.deployment.id,
    ]);
  });

  it('stops queueing once the queue deadline has passed', async () => {
    // prepare
    const f = fakes(stand);
    const holder = await holding(f, 'RUNNING');
    const plan = await nextPlan(holder);

    // act
    const error = await caught(() => acquire(f, plan, { queueDeadline: '2031-05-04T09:59:59.000Z' }));

    // assess
    expect(error).toBeInstanceOf(LockTimeoutError);
    expect(error.message).toContain(holder.deployment.id);
    expect(error.message).toContain('2031-05-04T09:59:59.000Z');
  });

  it('lets exactly one of ten concurrent executions take the lock', async () => {
    // prepare
    const f = fakes(stand);
    f.workflow.defaultStatus = 'RUNNING';
    const first = await deployPlan();
    const plans = [first, ...(await Promise.all(Array.from({ length: 9 }, () => nextPlan(first))))];

    // act
    const outcomes = await Promise.all(plans.map((plan) => acquire(f, plan)));

    // assess
    const winners = plans.filter((_, i) => outcomes[i]?.status === 'acquired');
    expect(winners).toHaveLength(1);
    expect(outcomes.filter((o) => o.status === 'busy')).toHaveLength(9);
    expect(await stand.record.lockHolder(first.deployment.service)).toMatchObject({
      executionArn: arnOf(winners[0] as DeployPlan),
    });
    expect(f.notifier.of('started')).toHaveLength(1);
  });
});

describe('takeOverLockStep', () => {
  it('takes the lock over from the stopped execution it was started for, also on a retry', async () => {
    // prepare
    const f = fakes(stand);
    const holder = await holding(f, 'ABORTED');
    const rollbackArn = executionArn(rollbackExecutionName(holder.deployment.id));
    const input = { deployment: holder.deployment, from: arnOf(holder), executionArn: rollbackArn };

    // act
    const first = await takeOverLockStep(f.deps, input);
    const retry = await takeOverLockStep(f.deps, input);

    // assess
    expect(first).toEqual({ lock: 'taken-over' });
    expect(retry).toEqual({ lock: 'taken-over' });
    expect(await stand.record.lockHolder(holder.deployment.service)).toMatchObject({
      deploymentId: holder.deployment.id,
      executionArn: rollbackArn,
      mode: 'rollback',
    });
  });

  it('refuses to run beside another execution that holds the lock', async () => {
    // prepare
    const f = fakes(stand);
    const stopped = await deployPlan();
    const other = await nextPlan(stopped);
    expect((await acquire(f, other)).status).toBe('acquired');

    // act
    const error = await caught(() =>
      takeOverLockStep(f.deps, {
        deployment: stopped.deployment,
        from: arnOf(stopped),
        executionArn: executionArn(rollbackExecutionName(stopped.deployment.id)),
      }),
    );

    // assess
    expect(error).toBeInstanceOf(LockLostError);
    expect(error.message).toContain(other.deployment.id);
    expect(await stand.record.lockHolder(stopped.deployment.service)).toMatchObject({
      executionArn: arnOf(other),
    });
  });
});
