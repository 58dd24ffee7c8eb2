import { describe, expect, it } from 'vitest';
import { AnalysisFailedError, RollbackFailedError } from '../../../functions/lib/deploy/errors.js';
import { stepHandler } from '../../../functions/lib/handler.js';
import {
  METRIC,
  METRICS_NAMESPACE,
  recordDeploymentFailed,
  recordOutcome,
  recordSessionOpen,
} from '../../../functions/lib/metrics.js';
import * as z from '../../../functions/lib/zod.js';
import { captureStdout, type EmfRecord, lambdaContext } from './emf-capture.js';

/**
 * The deployer's own metrics as the EMF records Powertools writes on stdout: what each step's
 * invocation records (latency, errors) through stepHandler's logMetrics, and the deployment
 * metrics a step's outcome means, with their dimension sets.
 */

const out = captureStdout();

const PLANNED_AT = '2031-05-04T10:00:00.000Z';
const deployment = { id: 'web-1', service: 'web', plannedAt: PLANNED_AT };

/** A step handler whose use case answers (or throws) what the test says. */
function step(name: string, answer: () => Promise<unknown>) {
  return stepHandler(name, z.looseObject({}), {}, async () => answer());
}

/** The one directive of a record (Powertools writes one per record). */
function directive(r: EmfRecord) {
  expect(r._aws.CloudWatchMetrics).toHaveLength(1);
  return r._aws.CloudWatchMetrics[0] as EmfRecord['_aws']['CloudWatchMetrics'][number];
}

/** The single record of metric `name`. */
function only(name: string): EmfRecord {
  const found = out.withMetric(name);
  expect(found, `records of ${name}`).toHaveLength(1);
  return found[0] as EmfRecord;
}

describe('every step invocation', () => {
  it('records its latency and no error, by service (the deployer) and step, in SwarmDeployer', async () => {
    // Act
    await step('Plan', async () => ({ outcome: 'ignored' }))({ event: {} }, lambdaContext());

    // Assert
    const r = only(METRIC.stepLatency);
    expect(directive(r)).toEqual({
      Namespace: METRICS_NAMESPACE,
      Dimensions: [['service', 'step']],
      Metrics: [
        { Name: 'StepLatency', Unit: 'Milliseconds' },
        { Name: 'StepErrors', Unit: 'Count' },
      ],
    });
    expect(r).toMatchObject({ service: 'swarm-deployer', step: 'Plan', StepErrors: 0 });
    expect(r.StepLatency).toBeGreaterThanOrEqual(0);
    expect(r.StepLatency).toBeLessThan(5000);
    expect(typeof r._aws.Timestamp).toBe('number');
    // Nothing else: Plan means no deployment metric.
    expect(out.records()).toHaveLength(1);
  });

  it('records an error for a step that fails, an invalid input included', async () => {
    // Arrange
    const strict = stepHandler(
      'Complete',
      z.object({ deployment: z.object({ id: z.string() }) }),
      {},
      async () => ({}),
    );

    // Act
    await expect(strict({ deployment: 42 }, lambdaContext())).rejects.toMatchObject({
      name: 'InvalidInputError',
    });
    await expect(
      step('RollbackCluster', async () => {
        throw new Error('engine gone');
      })({ deployment }, lambdaContext()),
    ).rejects.toThrow('engine gone');

    // Assert
    expect(out.withMetric(METRIC.stepErrors).map((r) => [r.step, r.StepErrors])).toEqual([
      ['Complete', 1],
      ['RollbackCluster', 1],
    ]);
  });

  it('counts nothing for an outcome a stop cut off (its retry counts), but records the failed invocation', async () => {
    // Arrange: the local runtime's stop signal, already aborted when the use case answers.
    const stopped = new AbortController();
    stopped.abort(new Error('the execution was stopped'));

    // Act
    await step('Complete', async () => ({ outcome: 'succeeded' }))(
      { deployment },
      lambdaContext({ signal: stopped.signal } as never),
    );

    // Assert
    expect(out.withMetric(METRIC.deploymentsSucceeded)).toEqual([]);
    expect(only(METRIC.stepErrors)).toMatchObject({ step: 'Complete', StepErrors: 1 });
  });
});

describe('deployment metrics from step outcomes', () => {
  it('Complete succeeded: DeploymentsSucceeded and TimeToDeploy since plannedAt, by service and fleet-wide', async () => {
    // Arrange: planned 90 s ago.
    const plannedAt = new Date(Date.now() - 90_000).toISOString();

    // Act
    await step('Complete', async () => ({ outcome: 'succeeded', deployed: ['c1'] }))(
      { deployment: { ...deployment, plannedAt } },
      lambdaContext(),
    );

    // Assert
    const succeeded = only(METRIC.deploymentsSucceeded);
    expect(directive(succeeded)).toEqual({
      Namespace: METRICS_NAMESPACE,
      Dimensions: [['service'], []],
      Metrics: [{ Name: 'DeploymentsSucceeded', Unit: 'Count' }],
    });
    expect(succeeded).toMatchObject({ service: 'web', DeploymentsSucceeded: 1 });
    const time = only(METRIC.timeToDeploy);
    expect(directive(time).Metrics).toEqual([{ Name: 'TimeToDeploy', Unit: 'Milliseconds' }]);
    expect(directive(time).Dimensions).toEqual([['service'], []]);
    expect(time.TimeToDeploy).toBeGreaterThanOrEqual(90_000);
    expect(time.TimeToDeploy as number).toBeLessThanOrEqual(Date.now() - Date.parse(plannedAt));
  });

  it('measures TimeToDeploy and TimeToRollBack in ms from plannedAt', () => {
    // Act
    const now = Date.parse(PLANNED_AT) + 95_500;
    recordOutcome('Complete', { deployment }, { result: { outcome: 'succeeded' } }, now);
    recordOutcome('ConcludeRollback', { deployment }, { result: { outcome: 'rolled-back' } }, now + 1000);

    // Assert
    expect(only(METRIC.timeToDeploy).TimeToDeploy).toBe(95_500);
    expect(only(METRIC.timeToRollBack)).toMatchObject({ service: 'web', TimeToRollBack: 96_500 });
    expect(only(METRIC.deploymentsRolledBack)).toMatchObject({ service: 'web', DeploymentsRolledBack: 1 });
  });

  it('counts a partially deployed Complete and a RollbackFailedError as failed deployments', async () => {
    // Act
    await step('Complete', async () => ({ outcome: 'partially-deployed' }))({ deployment }, lambdaContext());
    await expect(
      step('ConcludeRollback', async () => {
        throw new RollbackFailedError('rollback of web-1 failed on c2');
      })({ deployment }, lambdaContext()),
    ).rejects.toMatchObject({ name: 'RollbackFailedError' });

    // Assert
    const failed = out.withMetric(METRIC.deploymentsFailed);
    expect(failed).toHaveLength(2);
    for (const r of failed) {
      expect(directive(r).Dimensions).toEqual([['service'], []]);
      expect(r).toMatchObject({ service: 'web', DeploymentsFailed: 1 });
    }
    expect(out.withMetric(METRIC.deploymentsSucceeded)).toEqual([]);
    expect(out.withMetric(METRIC.deploymentsRolledBack)).toEqual([]);
  });

  it('AcquireLock: acquired starts a deployment, busy is a lock wait, superseded is neither', async () => {
    // Arrange: AcquireLock's input carries the deployment in its plan.
    const input = { plan: { outcome: 'deploy', deployment } };

    // Act
    for (const answer of [
      { status: 'busy', holder: 'web-0' },
      { status: 'busy', holder: 'web-0' },
      { status: 'acquired' },
      { status: 'superseded' },
    ])
      await step('AcquireLock', async () => answer)(input, lambdaContext());

    // Assert
    expect(out.withMetric(METRIC.lockWaits).map((r) => [r.service, r.LockWaits])).toEqual([
      ['web', 1],
      ['web', 1],
    ]);
    expect(only(METRIC.deploymentsStarted)).toMatchObject({ service: 'web', DeploymentsStarted: 1 });
    expect(directive(only(METRIC.deploymentsStarted)).Dimensions).toEqual([['service'], []]);
  });

  it('Analyze: a verdict per finished analysis, by service and verdict, and by verdict alone', async () => {
    // Act
    const analyze = (answer: () => Promise<unknown>) =>
      step('Analyze', answer)({ deployment }, lambdaContext());
    await analyze(async () => ({ phase: 'Running', done: false }));
    await analyze(async () => ({ phase: 'Successful', done: true }));
    for (const phase of ['Failed', 'Inconclusive', 'Error'])
      await expect(
        analyze(async () => {
          throw new AnalysisFailedError(`analysis ${phase} on c1: error rate 0.2 > 0.05`);
        }),
      ).rejects.toMatchObject({ name: 'AnalysisFailedError' });

    // Assert
    const verdicts = out.withMetric(METRIC.analysisVerdicts);
    expect(verdicts.map((r) => r.verdict)).toEqual(['Successful', 'Failed', 'Inconclusive', 'Error']);
    for (const r of verdicts) {
      expect(directive(r).Dimensions).toEqual([['verdict', 'service'], ['verdict']]);
      expect(r).toMatchObject({ service: 'web', AnalysisVerdicts: 1 });
    }
  });

  it('gives up on nothing when the input names no service (no record, no error)', () => {
    // Act
    recordOutcome('Complete', { deployment: { id: 'x' } }, { result: { outcome: 'succeeded' } });
    recordOutcome('Complete', null, { result: null });

    // Assert
    expect(out.records()).toEqual([]);
  });
});

describe('metrics recorded where they happen', () => {
  it("a reaped deployment's failure: DeploymentsFailed by service and fleet-wide", () => {
    // Act
    recordDeploymentFailed('api');

    // Assert
    const r = only(METRIC.deploymentsFailed);
    expect(directive(r)).toEqual({
      Namespace: METRICS_NAMESPACE,
      Dimensions: [['service'], []],
      Metrics: [{ Name: 'DeploymentsFailed', Unit: 'Count' }],
    });
    expect(r).toMatchObject({ service: 'api', DeploymentsFailed: 1 });
  });

  it("an SSM session's open time, by the deployer and cluster, and by the deployer alone", () => {
    // Act
    recordSessionOpen('c2', 412);

    // Assert
    const r = only(METRIC.ssmSessionOpenTime);
    expect(directive(r)).toEqual({
      Namespace: METRICS_NAMESPACE,
      Dimensions: [['service', 'cluster'], ['service']],
      Metrics: [{ Name: 'SsmSessionOpenTime', Unit: 'Milliseconds' }],
    });
    expect(r).toMatchObject({ service: 'swarm-deployer', cluster: 'c2', SsmSessionOpenTime: 412 });
  });
});
