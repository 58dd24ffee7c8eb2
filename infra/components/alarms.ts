import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { METRIC, METRICS_NAMESPACE } from '../../functions/lib/metrics.js';
import { requireArgs } from './util.js';

export interface AlarmsArgs {
  region: string;
  namePrefix: string;
  stateMachineArn: pulumi.Input<string>;
  deadLetterQueueName: pulumi.Input<string>;
  /** The log group of the ConcludeRollback function (its "step failed" line names RollbackFailedError). */
  concludeRollbackLogGroup: pulumi.Input<string>;
  topicArn: pulumi.Input<string>;
  /** Function names for the dashboard's Lambda widgets. */
  functionNames: pulumi.Input<string>[];
  /**
   * A rollback that concluded longer than this after its deployment was planned (TimeToRollBack)
   * raises an alarm: default 3600 s (a canary analysis or a bake that ran long before it failed).
   */
  rollbackAlarmSeconds?: number;
}

/** The custom metric a rollback that could not restore every cluster emits. */
export const ROLLBACK_FAILED_METRIC = { namespace: METRICS_NAMESPACE, name: 'RollbackFailed' } as const;

/**
 * Alarms to the alert topic on what needs a person: failed and timed-out executions, events that
 * could not be delivered (dead-letter queue), rollbacks that failed, deployments that failed, and
 * rollbacks that took too long; and one dashboard, of the workflow, the functions and the
 * deployer's own metrics (functions/lib/metrics.ts: EMF records of every function, in the
 * namespace SwarmDeployer). Rollbacks by service are on the dashboard only: each one has sent its
 * alert already.
 *
 * "Rollback failed" is a metric filter on ConcludeRollback's log: the handler wrapper logs every
 * failure as JSON `{"message":"step failed","error":"<name>",…}` and ConcludeRollback fails with
 * RollbackFailedError exactly when a touched cluster could not be restored. (An SNS-derived metric
 * would need a subscriber function; the log line exists already and costs nothing until it matches.)
 */
export class Alarms extends pulumi.ComponentResource {
  readonly alarms: Record<
    | 'executionsFailed'
    | 'executionsTimedOut'
    | 'deadLetters'
    | 'rollbackFailed'
    | 'deploymentsFailed'
    | 'rollbackSlow',
    aws.cloudwatch.MetricAlarm
  >;
  readonly rollbackFailedFilter: aws.cloudwatch.LogMetricFilter;
  readonly dashboard: aws.cloudwatch.Dashboard;

  constructor(name: string, args: AlarmsArgs, opts?: pulumi.ComponentResourceOptions) {
    const rollbackSeconds = args.rollbackAlarmSeconds ?? 3600;
    requireArgs('Alarms', [
      [/^[A-Za-z0-9_-]{1,200}$/.test(args.namePrefix), 'namePrefix: A-Z a-z 0-9 _ -'],
      [Number.isInteger(rollbackSeconds) && rollbackSeconds > 0, 'rollbackAlarmSeconds: a positive integer'],
    ]);
    super('swarm-deployer:index:Alarms', name, {}, opts);
    const alarm = (
      key: string,
      description: string,
      metric: {
        namespace: string;
        metricName: string;
        statistic: string;
        dimensions?: Record<string, pulumi.Input<string>>;
      },
      /** Over "≥ 1 in a minute". */
      over: { threshold?: number; period?: number; comparisonOperator?: string } = {},
    ) =>
      new aws.cloudwatch.MetricAlarm(
        `${name}-${key}`,
        {
          name: `${args.namePrefix}-${key}`,
          alarmDescription: description,
          ...metric,
          period: 60,
          evaluationPeriods: 1,
          threshold: 1,
          comparisonOperator: 'GreaterThanOrEqualToThreshold',
          ...over,
          treatMissingData: 'notBreaching',
          alarmActions: [args.topicArn],
          okActions: [args.topicArn],
        },
        { parent: this },
      );

    this.rollbackFailedFilter = new aws.cloudwatch.LogMetricFilter(
      `${name}-rollback-failed`,
      {
        logGroupName: args.concludeRollbackLogGroup,
        pattern: '{ $.error = "RollbackFailedError" }',
        metricTransformation: {
          namespace: ROLLBACK_FAILED_METRIC.namespace,
          name: ROLLBACK_FAILED_METRIC.name,
          value: '1',
          unit: 'Count',
        },
      },
      { parent: this },
    );
    this.alarms = {
      executionsFailed: alarm('executions-failed', 'A deployment workflow execution failed', {
        namespace: 'AWS/States',
        metricName: 'ExecutionsFailed',
        statistic: 'Sum',
        dimensions: { StateMachineArn: args.stateMachineArn },
      }),
      executionsTimedOut: alarm('executions-timed-out', 'A deployment workflow execution timed out', {
        namespace: 'AWS/States',
        metricName: 'ExecutionsTimedOut',
        statistic: 'Sum',
        dimensions: { StateMachineArn: args.stateMachineArn },
      }),
      deadLetters: alarm(
        'dead-letters',
        'EventBridge could not deliver a push or status event (see the DLQ)',
        {
          namespace: 'AWS/SQS',
          metricName: 'ApproximateNumberOfMessagesVisible',
          statistic: 'Maximum',
          dimensions: { QueueName: args.deadLetterQueueName },
        },
      ),
      rollbackFailed: alarm('rollback-failed', 'A rollback could not restore every touched cluster', {
        namespace: ROLLBACK_FAILED_METRIC.namespace,
        metricName: ROLLBACK_FAILED_METRIC.name,
        statistic: 'Sum',
      }),
      // The deployer's own metrics, fleet-wide (their dimension set []: every service).
      deploymentsFailed: alarm(
        'deployments-failed',
        'A deployment failed: partially deployed, or a rollback that failed or never concluded',
        { namespace: METRICS_NAMESPACE, metricName: METRIC.deploymentsFailed, statistic: 'Sum' },
      ),
      rollbackSlow: alarm(
        'rollback-slow',
        `A deployment was rolled back more than ${rollbackSeconds} s after it was planned`,
        { namespace: METRICS_NAMESPACE, metricName: METRIC.timeToRollBack, statistic: 'Maximum' },
        { threshold: rollbackSeconds * 1000, period: 300, comparisonOperator: 'GreaterThanThreshold' },
      ),
    };
    this.dashboard = new aws.cloudwatch.Dashboard(
      `${name}-dashboard`,
      {
        dashboardName: args.namePrefix,
        dashboardBody: pulumi
          .all([args.stateMachineArn, args.deadLetterQueueName, pulumi.all(args.functionNames)])
          .apply(([sm, queue, fns]) => JSON.stringify(dashboardBody(args.region, sm, queue, fns))),
      },
      { parent: this },
    );
    this.registerOutputs({});
  }
}

function dashboardBody(region: string, stateMachineArn: string, queue: string, functions: string[]) {
  const widget = (title: string, metrics: unknown[][], x: number, y: number) => ({
    type: 'metric',
    x,
    y,
    width: 12,
    height: 6,
    properties: { title, region, metrics, period: 300, stat: 'Sum', view: 'timeSeries' },
  });
  const sm = (metric: string) => ['AWS/States', metric, 'StateMachineArn', stateMachineArn];
  return {
    widgets: [
      widget(
        'Executions',
        [
          'ExecutionsStarted',
          'ExecutionsSucceeded',
          'ExecutionsFailed',
          'ExecutionsTimedOut',
          'ExecutionsAborted',
        ].map(sm),
        0,
        0,
      ),
      widget(
        'Rollbacks failed, dead letters',
        [
          [ROLLBACK_FAILED_METRIC.namespace, ROLLBACK_FAILED_METRIC.name],
          ['AWS/SQS', 'ApproximateNumberOfMessagesVisible', 'QueueName', queue, { stat: 'Maximum' }],
        ],
        12,
        0,
      ),
      widget(
        'Function errors',
        functions.map((f) => ['AWS/Lambda', 'Errors', 'FunctionName', f]),
        0,
        6,
      ),
      widget(
        'Function duration (p99)',
        functions.map((f) => ['AWS/Lambda', 'Duration', 'FunctionName', f, { stat: 'p99' }]),
        12,
        6,
      ),
      // The deployer's own metrics (EMF): fleet-wide series, and per service, step, cluster or
      // verdict through SEARCH (a series per value that has reported).
      widget(
        'Deployments',
        [
          METRIC.deploymentsStarted,
          METRIC.deploymentsSucceeded,
          METRIC.deploymentsRolledBack,
          METRIC.deploymentsFailed,
        ].map((m) => [METRICS_NAMESPACE, m]),
        0,
        12,
      ),
      widget(
        'Rolled back and failed, by service (1 h)',
        [
          search(METRIC.deploymentsRolledBack, ['service'], 'Sum', 'rolledBack', 3600),
          search(METRIC.deploymentsFailed, ['service'], 'Sum', 'failed', 3600),
        ],
        12,
        12,
      ),
      widget(
        'Time to deploy and to roll back (ms, p50 and max)',
        [METRIC.timeToDeploy, METRIC.timeToRollBack].flatMap((m) => [
          [METRICS_NAMESPACE, m, { stat: 'p50' }],
          [METRICS_NAMESPACE, m, { stat: 'Maximum' }],
        ]),
        0,
        18,
      ),
      widget('Analysis verdicts', [search(METRIC.analysisVerdicts, ['verdict'], 'Sum', 'verdicts')], 12, 18),
      widget(
        'Step latency (ms, p90)',
        [search(METRIC.stepLatency, ['service', 'step'], 'p90', 'steps')],
        0,
        24,
      ),
      widget(
        'SSM session open time (ms, p90)',
        [search(METRIC.ssmSessionOpenTime, ['service', 'cluster'], 'p90', 'sessions')],
        12,
        24,
      ),
      widget('Step errors', [search(METRIC.stepErrors, ['service', 'step'], 'Sum', 'stepErrors')], 0, 30),
      // A warm container reuses its SSM sessions: opened (SampleCount of the open time) against reused.
      widget(
        'SSM sessions opened and reused',
        [
          search(METRIC.ssmSessionOpenTime, ['service', 'cluster'], 'SampleCount', 'opened'),
          search(METRIC.ssmSessionReuses, ['service', 'cluster'], 'Sum', 'reused'),
        ],
        0,
        36,
      ),
      widget(
        'Lock waits, by service',
        [search(METRIC.lockWaits, ['service'], 'Sum', 'lockWaits'), [METRICS_NAMESPACE, METRIC.lockWaits]],
        12,
        30,
      ),
    ],
  };
}

/** A dashboard expression: every series of `metric` with exactly the dimensions `dimensions`. */
function search(metric: string, dimensions: string[], stat: string, id: string, period = 300) {
  return [
    {
      id,
      expression: `SEARCH('{${METRICS_NAMESPACE},${dimensions.join(',')}} MetricName="${metric}"', '${stat}', ${period})`,
    },
  ];
}
