/**
 * A Distributed Map's Map Run on the wire: the stand-in serves ListMapRuns, DescribeMapRun,
 * ListExecutions by Map Run and DescribeExecution's mapRunArn from the local engine, read with the
 * real SDK client.
 */
import {
  DescribeExecutionCommand,
  DescribeMapRunCommand,
  ListExecutionsCommand,
  ListMapRunsCommand,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AwsStandIn, startAwsStandIn } from '../../../local/aws/server.js';
import { WorkflowEngine } from '../../../local/runtime/workflow/engine.js';
import { type Clients, caught, clients } from './harness.js';

const DEFINITION = {
  StartAt: 'Fan',
  States: {
    Fan: {
      Type: 'Map',
      ItemsPath: '$.clusters',
      Label: 'Clusters',
      MaxConcurrency: 2,
      ItemProcessor: {
        ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' },
        StartAt: 'Deploy',
        States: {
          Deploy: {
            Type: 'Task',
            Resource: 'arn:aws:lambda:us-east-1:000000000000:function:deploy',
            TimeoutSeconds: 10,
            End: true,
          },
        },
      },
      End: true,
    },
  },
};

let engine: WorkflowEngine;
let standIn: AwsStandIn;
let aws: Clients;
let executionArn = '';

beforeAll(async () => {
  engine = new WorkflowEngine();
  const { stateMachineArn } = await engine.registerStateMachine({
    name: 'fan',
    definition: JSON.stringify(DEFINITION),
    handlers: { deploy: async (event) => ({ deployed: event }) },
  });
  standIn = await startAwsStandIn({ sfn: engine });
  aws = clients(standIn.endpoint);
  const started = await aws.sfn.send(
    new StartExecutionCommand({ stateMachineArn, input: JSON.stringify({ clusters: ['c1', 'c2', 'c3'] }) }),
  );
  executionArn = started.executionArn as string;
  await engine.waitForExecution(executionArn, 10_000);
});

afterAll(async () => {
  aws?.destroy();
  await standIn?.stop();
  await engine?.close();
});

describe('Map Runs on the wire', () => {
  it('lists the execution’s Map Run and describes it with its counts and settings', async () => {
    // Act
    const { mapRuns } = await aws.sfn.send(new ListMapRunsCommand({ executionArn }));
    const run = await aws.sfn.send(new DescribeMapRunCommand({ mapRunArn: mapRuns?.[0]?.mapRunArn }));
    // Assert
    expect(mapRuns).toHaveLength(1);
    expect(mapRuns?.[0]?.mapRunArn).toMatch(
      /^arn:aws:states:us-east-1:000000000000:mapRun:fan\/Clusters:[0-9a-f-]{36}$/,
    );
    expect(mapRuns?.[0]?.stateMachineArn).toBe(
      'arn:aws:states:us-east-1:000000000000:stateMachine:fan/Clusters',
    );
    expect(mapRuns?.[0]?.startDate).toBeInstanceOf(Date);
    expect(run).toMatchObject({
      executionArn,
      status: 'SUCCEEDED',
      maxConcurrency: 2,
      toleratedFailureCount: 0,
      executionCounts: { total: 3, succeeded: 3, failed: 0, running: 0 },
      itemCounts: { total: 3, succeeded: 3 },
    });
    expect(run.stopDate).toBeInstanceOf(Date);
  });

  it('lists the Map Run’s child executions, each naming its Map Run', async () => {
    // Arrange
    const { mapRuns } = await aws.sfn.send(new ListMapRunsCommand({ executionArn }));
    const mapRunArn = mapRuns?.[0]?.mapRunArn as string;
    // Act
    const { executions } = await aws.sfn.send(new ListExecutionsCommand({ mapRunArn }));
    const child = await aws.sfn.send(
      new DescribeExecutionCommand({ executionArn: executions?.[0]?.executionArn }),
    );
    // Assert
    expect(executions).toHaveLength(3);
    expect(executions?.every((e) => e.status === 'SUCCEEDED')).toBe(true);
    expect(child.mapRunArn).toBe(mapRunArn);
    expect(child.executionArn).toMatch(/:execution:fan\/Clusters:/);
    expect(JSON.parse(child.output ?? '{}')).toMatchObject({ deployed: expect.any(String) });
  });

  it('refuses ListExecutions with both a state machine and a Map Run, or a malformed Map Run ARN', async () => {
    // Arrange
    const { mapRuns } = await aws.sfn.send(new ListMapRunsCommand({ executionArn }));
    // Act
    const both = await caught(() =>
      aws.sfn.send(
        new ListExecutionsCommand({
          stateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:fan',
          mapRunArn: mapRuns?.[0]?.mapRunArn,
        }),
      ),
    );
    const malformed = await caught(() =>
      aws.sfn.send(
        new DescribeMapRunCommand({ mapRunArn: 'arn:aws:states:us-east-1:000000000000:mapRun:x' }),
      ),
    );
    // Assert
    expect(both.name).toBe('ValidationException');
    expect(malformed.name).toBe('InvalidArn');
  });
});
