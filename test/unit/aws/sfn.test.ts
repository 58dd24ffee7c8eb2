import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  ExecutionLimitExceeded,
  GetExecutionHistoryCommand,
  InvalidArn,
  InvalidExecutionInput,
  InvalidName,
  InvalidOutput,
  InvalidToken,
  ListExecutionsCommand,
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  StartExecutionCommand,
  StopExecutionCommand,
  TaskDoesNotExist,
  TaskTimedOut,
} from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type AwsStandIn, startAwsStandIn } from '../../../local/aws/server.js';
import { type SfnBackend, SfnBackendError } from '../../../local/aws/sfn.js';
import { type Clients, CREDENTIALS, caught, clients } from './harness.js';

const STATE_MACHINE = 'arn:aws:states:us-east-1:000000000000:stateMachine:deploy';

type Execution = Awaited<ReturnType<SfnBackend['describeExecution']>>;

/** An in-memory backend: executions stay RUNNING until stopped; task tokens are handed out by the test. */
class FakeBackend implements SfnBackend {
  readonly executions = new Map<string, Execution>();
  readonly tokens = new Map<string, 'waiting' | 'succeeded' | 'failed' | 'timed-out'>();
  readonly callbacks: Array<Record<string, unknown>> = [];
  private clock = Date.parse('2026-01-02T03:04:05.678Z');

  async startExecution(input: { stateMachineArn: string; name?: string; input?: string }) {
    if (input.stateMachineArn !== STATE_MACHINE) {
      throw new SfnBackendError(
        'StateMachineDoesNotExist',
        `State Machine Does Not Exist: '${input.stateMachineArn}'`,
      );
    }
    const name = input.name ?? `run-${this.executions.size + 1}`;
    const executionArn = `arn:aws:states:us-east-1:000000000000:execution:deploy:${name}`;
    if (this.executions.has(executionArn)) {
      throw new SfnBackendError('ExecutionAlreadyExists', `Execution Already Exists: '${executionArn}'`);
    }
    this.clock += 1000;
    const startDate = new Date(this.clock);
    this.executions.set(executionArn, {
      executionArn,
      stateMachineArn: input.stateMachineArn,
      name,
      status: 'RUNNING',
      startDate,
      input: input.input ?? '{}',
    });
    return { executionArn, startDate };
  }

  async describeExecution(executionArn: string) {
    const execution = this.executions.get(executionArn);
    if (execution === undefined) {
      throw new SfnBackendError('ExecutionDoesNotExist', `Execution Does Not Exist: '${executionArn}'`);
    }
    return execution;
  }

  async stopExecution(input: { executionArn: string; error?: string; cause?: string }) {
    const execution = await this.describeExecution(input.executionArn);
    const stopDate = new Date(this.clock + 500);
    this.executions.set(input.executionArn, {
      ...execution,
      status: 'ABORTED',
      stopDate,
      ...(input.error === undefined ? {} : { error: input.error }),
      ...(input.cause === undefined ? {} : { cause: input.cause }),
    });
    return { stopDate };
  }

  async listExecutions(input: {
    stateMachineArn: string;
    statusFilter?: string;
    maxResults?: number;
    nextToken?: string;
  }) {
    const all = [...this.executions.values()].filter(
      (execution) => input.statusFilter === undefined || execution.status === input.statusFilter,
    );
    const start = input.nextToken === undefined ? 0 : Number(input.nextToken);
    const size = input.maxResults ?? 100;
    return {
      executions: all
        .slice(start, start + size)
        .map(({ executionArn, stateMachineArn, name, status, startDate, stopDate }) => ({
          executionArn,
          stateMachineArn,
          name,
          status,
          startDate,
          ...(stopDate === undefined ? {} : { stopDate }),
        })),
      ...(start + size < all.length ? { nextToken: String(start + size) } : {}),
    };
  }

  async getExecutionHistory(input: {
    executionArn: string;
    maxResults?: number;
    nextToken?: string;
    reverseOrder?: boolean;
  }) {
    const execution = await this.describeExecution(input.executionArn);
    const events: Array<Record<string, unknown>> = [
      {
        timestamp: execution.startDate,
        type: 'ExecutionStarted',
        id: 1,
        previousEventId: 0,
        executionStartedEventDetails: { input: execution.input, roleArn: 'arn:aws:iam::000000000000:role/x' },
      },
      {
        timestamp: new Date(execution.startDate.getTime() + 250),
        type: 'TaskStateEntered',
        id: 2,
        previousEventId: 1,
        stateEnteredEventDetails: { name: 'Plan', input: execution.input },
      },
    ];
    return { events: input.reverseOrder ? events.reverse() : events };
  }

  async sendTaskSuccess(input: { taskToken: string; output: string }) {
    this.settle(input.taskToken, 'succeeded', input);
  }

  async sendTaskFailure(input: { taskToken: string; error?: string; cause?: string }) {
    this.settle(input.taskToken, 'failed', input);
  }

  async sendTaskHeartbeat(input: { taskToken: string }) {
    const state = this.tokens.get(input.taskToken);
    if (state === 'timed-out') throw new SfnBackendError('TaskTimedOut', 'Task Timed Out');
    this.settle(input.taskToken, 'waiting', input);
  }

  private settle(
    token: string,
    to: 'waiting' | 'succeeded' | 'failed',
    input: Record<string, unknown>,
  ): void {
    const state = this.tokens.get(token);
    if (state === undefined) throw new SfnBackendError('InvalidToken', `Invalid Token: '${token}'`);
    if (state === 'timed-out') throw new SfnBackendError('TaskTimedOut', 'Task Timed Out');
    if (state !== 'waiting') throw new SfnBackendError('TaskDoesNotExist', 'Task Does Not Exist');
    this.tokens.set(token, to);
    this.callbacks.push(input);
  }
}

let standIn: AwsStandIn;
let aws: Clients;
let backend: FakeBackend;

beforeAll(async () => {
  standIn = await startAwsStandIn();
  aws = clients(standIn.endpoint);
});

afterAll(async () => {
  aws?.destroy();
  await standIn?.stop();
});

beforeEach(() => {
  backend = new FakeBackend();
  standIn.setSfnBackend(backend);
});

describe('executions', () => {
  it('starts and describes an execution, dates as Dates', async () => {
    const started = await aws.sfn.send(
      new StartExecutionCommand({ stateMachineArn: STATE_MACHINE, name: 'web-sha256-abc', input: '{"a":1}' }),
    );
    const described = await aws.sfn.send(
      new DescribeExecutionCommand({ executionArn: started.executionArn }),
    );

    expect(started.executionArn).toBe(
      'arn:aws:states:us-east-1:000000000000:execution:deploy:web-sha256-abc',
    );
    expect(started.startDate).toEqual(new Date('2026-01-02T03:04:06.678Z'));
    expect(described).toMatchObject({
      executionArn: started.executionArn,
      stateMachineArn: STATE_MACHINE,
      name: 'web-sha256-abc',
      status: 'RUNNING',
      startDate: new Date('2026-01-02T03:04:06.678Z'),
      input: '{"a":1}',
      inputDetails: { included: true },
    });
    expect(described.stopDate).toBeUndefined();
  });

  it('passes the backend errors through as the SDK exceptions', async () => {
    await aws.sfn.send(new StartExecutionCommand({ stateMachineArn: STATE_MACHINE, name: 'dup' }));

    const duplicate = await caught(() =>
      aws.sfn.send(new StartExecutionCommand({ stateMachineArn: STATE_MACHINE, name: 'dup' })),
    );
    const missing = await caught(() =>
      aws.sfn.send(
        new DescribeExecutionCommand({
          executionArn: 'arn:aws:states:us-east-1:000000000000:execution:deploy:nope',
        }),
      ),
    );
    const noMachine = await caught(() =>
      aws.sfn.send(
        new StartExecutionCommand({
          stateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:other',
        }),
      ),
    );

    expect(duplicate).toBeInstanceOf(ExecutionAlreadyExists);
    expect(duplicate.message).toBe(
      "Execution Already Exists: 'arn:aws:states:us-east-1:000000000000:execution:deploy:dup'",
    );
    expect(duplicate.$metadata).toMatchObject({ httpStatusCode: 400 });
    expect(missing).toBeInstanceOf(ExecutionDoesNotExist);
    expect(noMachine.name).toBe('StateMachineDoesNotExist');
  });

  it('recognises a backend error by its shape, whatever its class', async () => {
    // The local runtime declares its own SfnBackendError with the same text: a different class object.
    class RuntimeSfnBackendError extends Error {
      constructor(
        readonly type: string,
        message: string,
      ) {
        super(message);
      }
    }
    backend.startExecution = async () => {
      throw new RuntimeSfnBackendError('ExecutionLimitExceeded', 'too many running');
    };

    const error = await caught(() =>
      aws.sfn.send(new StartExecutionCommand({ stateMachineArn: STATE_MACHINE })),
    );

    expect(error).toBeInstanceOf(ExecutionLimitExceeded);
    expect(error.message).toBe('too many running');
  });

  it('validates names, ARNs and input before the backend sees them', async () => {
    const badName = await caught(() =>
      aws.sfn.send(new StartExecutionCommand({ stateMachineArn: STATE_MACHINE, name: 'has space' })),
    );
    const longName = await caught(() =>
      aws.sfn.send(new StartExecutionCommand({ stateMachineArn: STATE_MACHINE, name: 'x'.repeat(81) })),
    );
    const badArn = await caught(() =>
      aws.sfn.send(
        new StartExecutionCommand({ stateMachineArn: 'arn:aws:lambda:us-east-1:000000000000:function:x' }),
      ),
    );
    const badInput = await caught(() =>
      aws.sfn.send(new StartExecutionCommand({ stateMachineArn: STATE_MACHINE, input: '{not json' })),
    );
    const noArn = await caught(() =>
      aws.sfn.send(new DescribeExecutionCommand({ executionArn: undefined as never })),
    );

    expect(badName).toBeInstanceOf(InvalidName);
    expect(badName.message).toBe("Invalid Name: 'has space'");
    expect(longName.message).toBe(
      `1 validation error detected: Value '${'x'.repeat(81)}' at 'name' failed to satisfy constraint: Member must have length less than or equal to 80`,
    );
    expect(badArn).toBeInstanceOf(InvalidArn);
    expect(badInput).toBeInstanceOf(InvalidExecutionInput);
    expect(noArn.name).toBe('ValidationException');
    expect(noArn.message).toBe(
      "1 validation error detected: Value null at 'executionArn' failed to satisfy constraint: Member must not be null",
    );
    expect(backend.executions.size).toBe(0);
  });

  it('stops an execution', async () => {
    const { executionArn } = await aws.sfn.send(
      new StartExecutionCommand({ stateMachineArn: STATE_MACHINE }),
    );

    const stopped = await aws.sfn.send(
      new StopExecutionCommand({ executionArn, error: 'Aborted', cause: 'by test' }),
    );
    const described = await aws.sfn.send(new DescribeExecutionCommand({ executionArn }));

    expect(stopped.stopDate).toBeInstanceOf(Date);
    expect(described).toMatchObject({
      status: 'ABORTED',
      error: 'Aborted',
      cause: 'by test',
      stopDate: stopped.stopDate,
    });
  });

  it('lists executions with a status filter and pages', async () => {
    for (const name of ['a', 'b', 'c']) {
      await aws.sfn.send(new StartExecutionCommand({ stateMachineArn: STATE_MACHINE, name }));
    }
    await aws.sfn.send(
      new StopExecutionCommand({ executionArn: 'arn:aws:states:us-east-1:000000000000:execution:deploy:b' }),
    );

    const running = await aws.sfn.send(
      new ListExecutionsCommand({ stateMachineArn: STATE_MACHINE, statusFilter: 'RUNNING' }),
    );
    const first = await aws.sfn.send(
      new ListExecutionsCommand({ stateMachineArn: STATE_MACHINE, maxResults: 2 }),
    );
    const second = await aws.sfn.send(
      new ListExecutionsCommand({
        stateMachineArn: STATE_MACHINE,
        maxResults: 2,
        nextToken: first.nextToken,
      }),
    );
    const badStatus = await caught(() =>
      aws.sfn.send(
        new ListExecutionsCommand({ stateMachineArn: STATE_MACHINE, statusFilter: 'DONE' as never }),
      ),
    );

    expect(running.executions?.map((e) => e.name)).toEqual(['a', 'c']);
    expect(first.executions?.map((e) => e.name)).toEqual(['a', 'b']);
    expect(first.executions?.[1]).toMatchObject({ status: 'ABORTED', stopDate: expect.any(Date) });
    expect(second.executions?.map((e) => e.name)).toEqual(['c']);
    expect(second.nextToken).toBeUndefined();
    expect(badStatus.message).toMatch(
      /at 'statusFilter' failed to satisfy constraint: Member must satisfy enum value set/,
    );
  });

  it('returns the history with event timestamps as Dates', async () => {
    const { executionArn, startDate } = await aws.sfn.send(
      new StartExecutionCommand({ stateMachineArn: STATE_MACHINE, input: '{}' }),
    );

    const history = await aws.sfn.send(new GetExecutionHistoryCommand({ executionArn, reverseOrder: true }));

    expect(history.events?.map((e) => [e.id, e.type])).toEqual([
      [2, 'TaskStateEntered'],
      [1, 'ExecutionStarted'],
    ]);
    expect(history.events?.[1]?.timestamp).toEqual(startDate);
    expect(history.events?.[0]?.stateEnteredEventDetails).toEqual({ name: 'Plan', input: '{}' });
  });

  it('leaves execution data out when asked to', async () => {
    const { executionArn } = await aws.sfn.send(
      new StartExecutionCommand({ stateMachineArn: STATE_MACHINE, input: '{"secret":1}' }),
    );

    const described = await aws.sfn.send(
      new DescribeExecutionCommand({ executionArn, includedData: 'METADATA_ONLY' }),
    );
    const history = await aws.sfn.send(
      new GetExecutionHistoryCommand({ executionArn, includeExecutionData: false }),
    );

    expect(described.input).toBeUndefined();
    expect(described.inputDetails).toEqual({ included: false });
    expect(JSON.stringify(history.events)).not.toContain('secret');
    expect(history.events?.[1]?.stateEnteredEventDetails).toEqual({ name: 'Plan' });
  });
});

describe('task callbacks', () => {
  it('delivers success, failure and heartbeats to the backend', async () => {
    backend.tokens.set('token-approve', 'waiting');
    backend.tokens.set('token-reject', 'waiting');

    await aws.sfn.send(new SendTaskHeartbeatCommand({ taskToken: 'token-approve' }));
    await aws.sfn.send(
      new SendTaskSuccessCommand({ taskToken: 'token-approve', output: '{"approver":"ana"}' }),
    );
    await aws.sfn.send(
      new SendTaskFailureCommand({ taskToken: 'token-reject', error: 'Rejected', cause: 'metrics look off' }),
    );

    expect(backend.callbacks).toEqual([
      { taskToken: 'token-approve' },
      { taskToken: 'token-approve', output: '{"approver":"ana"}' },
      { taskToken: 'token-reject', error: 'Rejected', cause: 'metrics look off' },
    ]);
    expect(backend.tokens.get('token-approve')).toBe('succeeded');
    expect(backend.tokens.get('token-reject')).toBe('failed');
  });

  it('answers the callback errors by name', async () => {
    backend.tokens.set('done', 'succeeded');
    backend.tokens.set('late', 'timed-out');
    backend.tokens.set('waiting', 'waiting');

    const unknown = await caught(() =>
      aws.sfn.send(new SendTaskSuccessCommand({ taskToken: 'nope', output: '{}' })),
    );
    const twice = await caught(() =>
      aws.sfn.send(new SendTaskSuccessCommand({ taskToken: 'done', output: '{}' })),
    );
    const late = await caught(() => aws.sfn.send(new SendTaskHeartbeatCommand({ taskToken: 'late' })));
    const badOutput = await caught(() =>
      aws.sfn.send(new SendTaskSuccessCommand({ taskToken: 'waiting', output: 'approved' })),
    );

    expect(unknown).toBeInstanceOf(InvalidToken);
    expect(twice).toBeInstanceOf(TaskDoesNotExist);
    expect(late).toBeInstanceOf(TaskTimedOut);
    expect(badOutput).toBeInstanceOf(InvalidOutput);
    expect(backend.tokens.get('waiting')).toBe('waiting');
  });
});

describe('the wire', () => {
  it('answers in AWS JSON 1.0 with epoch-second dates', async () => {
    const response = await fetch(standIn.endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.0',
        'x-amz-target': 'AWSStepFunctions.StartExecution',
        authorization: `AWS4-HMAC-SHA256 Credential=${CREDENTIALS.accessKeyId}/20260101/us-east-1/states/aws4_request`,
      },
      body: JSON.stringify({ stateMachineArn: STATE_MACHINE, name: 'raw' }),
    });
    const body = (await response.json()) as Record<string, unknown>;

    expect(response.headers.get('content-type')).toBe('application/x-amz-json-1.0');
    expect(body).toEqual({
      executionArn: 'arn:aws:states:us-east-1:000000000000:execution:deploy:raw',
      startDate: 1767323046.678,
    });
  });

  it('says so when no backend is attached', async () => {
    standIn.setSfnBackend(undefined);

    const error = await caught(() =>
      aws.sfn.send(new StartExecutionCommand({ stateMachineArn: STATE_MACHINE })),
    );

    expect(error.name).toBe('ServiceUnavailable');
    expect(error.message).toBe('The stand-in has no Step Functions backend attached.');
  });
});
