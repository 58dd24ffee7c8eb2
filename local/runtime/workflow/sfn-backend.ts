/**
 * The Step Functions API surface the local runtime serves: the engine in this directory implements
 * it, and the AWS JSON 1.0 stand-in (local/aws/sfn.ts) speaks it on the wire. The text of the
 * interface and the error class is shared verbatim with local/aws/sfn.ts.
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
  }>;
  stopExecution(input: { executionArn: string; error?: string; cause?: string }): Promise<{ stopDate: Date }>;
  listExecutions(input: {
    stateMachineArn: string;
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
}
export class SfnBackendError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}
