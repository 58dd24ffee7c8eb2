import { AwsJsonError, type AwsJsonRouter } from '../ssm/aws-json.js';
import { Members, toWire } from './wire.js';

/**
 * Step Functions for the AWS stand-in (AWS JSON 1.0, target prefix AWSStepFunctions): the
 * execution and task-callback actions, validated here as the service validates them, then
 * delegated to an `SfnBackend` (the local runtime's aws-local-stepfunctions runner). Dates the
 * backend returns go on the wire as epoch seconds.
 */

export interface SfnBackend {
  startExecution(input: {
    stateMachineArn: string;
    name?: string;
    input?: string;
  }): Promise<{ executionArn: string; startDate: Date }>;
  describeExecution(executionArn: string): Promise<{
    executionArn: string;
    stateMachineArn: string;
    name: string;
    status: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';
    startDate: Date;
    stopDate?: Date;
    input: string;
    output?: string;
    error?: string;
    cause?: string;
    /** For a child execution of a Distributed Map: its Map Run. */
    mapRunArn?: string;
  }>;
  stopExecution(input: { executionArn: string; error?: string; cause?: string }): Promise<{ stopDate: Date }>;
  listExecutions(input: {
    /** One of stateMachineArn and mapRunArn (a Distributed Map's child executions). */
    stateMachineArn?: string;
    mapRunArn?: string;
    statusFilter?: string;
    maxResults?: number;
    nextToken?: string;
  }): Promise<{
    executions: Array<{
      executionArn: string;
      stateMachineArn: string;
      name: string;
      status: string;
      startDate: Date;
      stopDate?: Date;
    }>;
    nextToken?: string;
  }>;
  getExecutionHistory(input: {
    executionArn: string;
    maxResults?: number;
    nextToken?: string;
    reverseOrder?: boolean;
  }): Promise<{ events: Array<Record<string, unknown>>; nextToken?: string }>;
  sendTaskSuccess(input: { taskToken: string; output: string }): Promise<void>;
  sendTaskFailure(input: { taskToken: string; error?: string; cause?: string }): Promise<void>;
  sendTaskHeartbeat(input: { taskToken: string }): Promise<void>;
  /** ListMapRuns: the Map Runs an execution's Distributed Maps started (optional: not every backend has them). */
  listMapRuns?(executionArn: string): {
    mapRuns: Array<{
      executionArn: string;
      mapRunArn: string;
      stateMachineArn: string;
      startDate: Date;
      stopDate?: Date;
    }>;
  };
  /** DescribeMapRun. */
  describeMapRun?(mapRunArn: string): object;
}

/** Thrown by a backend to answer with an AWS error: type is the AWS error code (ExecutionAlreadyExists, ExecutionDoesNotExist, StateMachineDoesNotExist, InvalidName, InvalidToken, TaskDoesNotExist, TaskTimedOut, InvalidOutput, InvalidArn, ...). */
export class SfnBackendError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

export const SFN_TARGET_PREFIX = 'AWSStepFunctions';

const STATUSES = ['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED', 'PENDING_REDRIVE'] as const;
/** 256 KiB: the most input or output an execution or a task may carry. */
const MAX_PAYLOAD = 262_144;
/**
 * Characters an execution name may not contain (StartExecution `name`): whitespace, brackets,
 * wildcards, the special characters below and control characters.
 */
const NAME_FORBIDDEN = /[\s<>{}[\]?*"#%\\^|~`$&,;:/\p{Cc}]/u;
const STATE_MACHINE_ARN = /^arn:aws[\w-]*:states:[a-z0-9-]*:\d*:stateMachine:[^:]+(:[^:]+)?$/;
const EXECUTION_ARN = /^arn:aws[\w-]*:states:[a-z0-9-]*:\d*:(execution|express):[^:]+:[^:]+$/;
/** A Distributed Map's Map Run: `mapRun:<state machine>/<label>:<id>`. */
const MAP_RUN_ARN = /^arn:aws[\w-]*:states:[a-z0-9-]*:\d*:mapRun:[^:/]+\/[^:]+:[^:]+$/;

/**
 * Registers StartExecution, DescribeExecution, StopExecution, ListExecutions (by state machine or
 * Map Run), ListMapRuns, DescribeMapRun, GetExecutionHistory, SendTaskSuccess, SendTaskFailure and
 * SendTaskHeartbeat on an AWSStepFunctions router.
 * `backend` is looked up on every call, so one can be attached after the server started.
 */
export function registerSfnActions(router: AwsJsonRouter, backend: () => SfnBackend | undefined): void {
  const use = async <T>(call: (sfn: SfnBackend) => Promise<T>): Promise<T> => {
    const sfn = backend();
    if (sfn === undefined) {
      throw new AwsJsonError(
        'ServiceUnavailable',
        'The stand-in has no Step Functions backend attached.',
        503,
      );
    }
    try {
      return await call(sfn);
    } catch (error) {
      const type = backendErrorType(error);
      if (type !== undefined) throw new AwsJsonError(type, (error as Error).message);
      throw error;
    }
  };

  router.register('StartExecution', async (input) => {
    const members = new Members(input);
    const stateMachineArn = members.string('stateMachineArn', { required: true, min: 1, max: 256 });
    const name = members.string('name', { min: 1, max: 80 });
    const payload = members.string('input', { max: MAX_PAYLOAD, sensitive: true });
    members.string('traceHeader', { max: 256 });
    members.done();
    checkArn(stateMachineArn, STATE_MACHINE_ARN);
    if (name !== undefined && NAME_FORBIDDEN.test(name)) {
      throw new AwsJsonError('InvalidName', `Invalid Name: '${name}'`);
    }
    if (payload !== undefined)
      checkJson(payload, 'InvalidExecutionInput', 'Invalid State Machine Execution Input');
    const started = await use((sfn) =>
      sfn.startExecution({
        stateMachineArn,
        ...(name === undefined ? {} : { name }),
        ...(payload === undefined ? {} : { input: payload }),
      }),
    );
    return toWire({ executionArn: started.executionArn, startDate: started.startDate });
  });

  router.register('DescribeExecution', async (input) => {
    const members = new Members(input);
    const executionArn = members.string('executionArn', { required: true, min: 1, max: 256 });
    const includedData = members.enumeration('includedData', ['ALL_DATA', 'METADATA_ONLY']);
    members.done();
    checkArn(executionArn, EXECUTION_ARN);
    const execution = await use((sfn) => sfn.describeExecution(executionArn));
    const data = includedData !== 'METADATA_ONLY';
    return toWire({
      executionArn: execution.executionArn,
      stateMachineArn: execution.stateMachineArn,
      name: execution.name,
      status: execution.status,
      startDate: execution.startDate,
      stopDate: execution.stopDate,
      input: data ? execution.input : undefined,
      inputDetails: { included: data },
      output: data ? execution.output : undefined,
      outputDetails: execution.output === undefined ? undefined : { included: data },
      error: data ? execution.error : undefined,
      cause: data ? execution.cause : undefined,
      mapRunArn: execution.mapRunArn,
    });
  });

  router.register('StopExecution', async (input) => {
    const members = new Members(input);
    const executionArn = members.string('executionArn', { required: true, min: 1, max: 256 });
    const error = members.string('error', { max: 256, sensitive: true });
    const cause = members.string('cause', { max: 32_768, sensitive: true });
    members.done();
    checkArn(executionArn, EXECUTION_ARN);
    const stopped = await use((sfn) =>
      sfn.stopExecution({
        executionArn,
        ...(error === undefined ? {} : { error }),
        ...(cause === undefined ? {} : { cause }),
      }),
    );
    return toWire({ stopDate: stopped.stopDate });
  });

  router.register('ListExecutions', async (input) => {
    const members = new Members(input);
    const stateMachineArn = members.string('stateMachineArn', { min: 1, max: 256 });
    const statusFilter = members.enumeration('statusFilter', STATUSES);
    const maxResults = members.integer('maxResults', { min: 0, max: 1000 });
    const nextToken = members.string('nextToken', { min: 1, max: 3096 });
    const mapRunArn = members.string('mapRunArn', { min: 1, max: 2000 });
    members.done();
    if ((stateMachineArn === undefined) === (mapRunArn === undefined)) {
      throw new AwsJsonError(
        'ValidationException',
        stateMachineArn === undefined
          ? 'Must provide a StateMachine ARN or MapRun ARN'
          : 'Only one of StateMachine ARN or MapRun ARN may be provided',
      );
    }
    if (stateMachineArn !== undefined) checkArn(stateMachineArn, STATE_MACHINE_ARN);
    if (mapRunArn !== undefined) checkArn(mapRunArn, MAP_RUN_ARN);
    const listed = await use((sfn) =>
      sfn.listExecutions({
        ...(stateMachineArn === undefined ? {} : { stateMachineArn }),
        ...(mapRunArn === undefined ? {} : { mapRunArn }),
        ...(statusFilter === undefined ? {} : { statusFilter }),
        // 0 means the default page size, as on AWS.
        ...(maxResults === undefined || maxResults === 0 ? {} : { maxResults }),
        ...(nextToken === undefined ? {} : { nextToken }),
      }),
    );
    return toWire({ executions: listed.executions, nextToken: listed.nextToken });
  });

  router.register('ListMapRuns', async (input) => {
    const members = new Members(input);
    const executionArn = members.string('executionArn', { required: true, min: 1, max: 256 });
    const maxResults = members.integer('maxResults', { min: 0, max: 1000 });
    const nextToken = members.string('nextToken', { min: 1, max: 3096 });
    members.done();
    checkArn(executionArn, EXECUTION_ARN);
    const listed = await use(async (sfn) => {
      if (sfn.listMapRuns === undefined)
        throw new AwsJsonError('ValidationException', 'Map Runs are not served');
      // The execution must exist (ExecutionDoesNotExist otherwise), as on AWS.
      await sfn.describeExecution(executionArn);
      return sfn.listMapRuns(executionArn);
    });
    const size = maxResults === undefined || maxResults === 0 ? 100 : maxResults;
    const start = nextToken === undefined ? 0 : Number(nextToken);
    if (!Number.isInteger(start) || start < 0 || start > listed.mapRuns.length) {
      throw new AwsJsonError('InvalidToken', 'Invalid Token');
    }
    const page = listed.mapRuns.slice(start, start + size);
    const next = start + size < listed.mapRuns.length ? String(start + size) : undefined;
    return toWire({ mapRuns: page, nextToken: next });
  });

  router.register('DescribeMapRun', async (input) => {
    const members = new Members(input);
    const mapRunArn = members.string('mapRunArn', { required: true, min: 1, max: 2000 });
    members.done();
    checkArn(mapRunArn, MAP_RUN_ARN);
    const described = await use(async (sfn) => {
      if (sfn.describeMapRun === undefined)
        throw new AwsJsonError('ValidationException', 'Map Runs are not served');
      return sfn.describeMapRun(mapRunArn);
    });
    return toWire(described as Record<string, unknown>);
  });

  router.register('GetExecutionHistory', async (input) => {
    const members = new Members(input);
    const executionArn = members.string('executionArn', { required: true, min: 1, max: 256 });
    const maxResults = members.integer('maxResults', { min: 0, max: 1000 });
    const reverseOrder = members.boolean('reverseOrder');
    const nextToken = members.string('nextToken', { min: 1, max: 3096 });
    const includeExecutionData = members.boolean('includeExecutionData') ?? true;
    members.done();
    checkArn(executionArn, EXECUTION_ARN);
    const history = await use((sfn) =>
      sfn.getExecutionHistory({
        executionArn,
        ...(maxResults === undefined || maxResults === 0 ? {} : { maxResults }),
        ...(nextToken === undefined ? {} : { nextToken }),
        ...(reverseOrder === undefined ? {} : { reverseOrder }),
      }),
    );
    const events = includeExecutionData ? history.events : history.events.map(withoutData);
    return toWire({ events, nextToken: history.nextToken });
  });

  router.register('SendTaskSuccess', async (input) => {
    const members = new Members(input);
    const taskToken = members.string('taskToken', { required: true, min: 1, max: 2048 });
    const output = members.string('output', { required: true, max: MAX_PAYLOAD, sensitive: true });
    members.done();
    checkJson(output, 'InvalidOutput', 'Invalid Output');
    await use((sfn) => sfn.sendTaskSuccess({ taskToken, output }));
    return {};
  });

  router.register('SendTaskFailure', async (input) => {
    const members = new Members(input);
    const taskToken = members.string('taskToken', { required: true, min: 1, max: 2048 });
    const error = members.string('error', { max: 256, sensitive: true });
    const cause = members.string('cause', { max: 32_768, sensitive: true });
    members.done();
    await use((sfn) =>
      sfn.sendTaskFailure({
        taskToken,
        ...(error === undefined ? {} : { error }),
        ...(cause === undefined ? {} : { cause }),
      }),
    );
    return {};
  });

  router.register('SendTaskHeartbeat', async (input) => {
    const members = new Members(input);
    const taskToken = members.string('taskToken', { required: true, min: 1, max: 2048 });
    members.done();
    await use((sfn) => sfn.sendTaskHeartbeat({ taskToken }));
    return {};
  });
}

/** An event with the input and output left out of its details (includeExecutionData: false). */
function withoutData(event: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...event };
  for (const [key, value] of Object.entries(event)) {
    if (!key.endsWith('EventDetails') || value === null || typeof value !== 'object') continue;
    const { input: _input, output: _output, ...rest } = value as Record<string, unknown>;
    out[key] = rest;
  }
  return out;
}

/**
 * The AWS error code a backend failure carries. Recognised by shape rather than by class: the
 * runtime declares its own copy of SfnBackendError (the text is shared, the class object is not),
 * so `instanceof` would miss its errors and turn them into 500s.
 */
function backendErrorType(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const type = (error as { type?: unknown }).type;
  return typeof type === 'string' && /^[A-Z][A-Za-z0-9.]*$/.test(type) ? type : undefined;
}

function checkArn(arn: string, pattern: RegExp): void {
  if (!pattern.test(arn)) throw new AwsJsonError('InvalidArn', `Invalid Arn: '${arn}'`);
}

function checkJson(text: string, type: string, prefix: string): void {
  try {
    JSON.parse(text);
  } catch (error) {
    throw new AwsJsonError(type, `${prefix}: '${error instanceof Error ? error.message : String(error)}'`);
  }
}
