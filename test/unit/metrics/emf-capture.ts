import type { Context } from 'aws-lambda';
import { afterEach, beforeEach, vi } from 'vitest';

/**
 * What Powertools Metrics writes: it prints each EMF record as one JSON line on process.stdout
 * (through a Console of its own, not the global console), so the tests read process.stdout.write.
 */
export interface EmfRecord {
  _aws: {
    Timestamp: number;
    CloudWatchMetrics: Array<{
      Namespace: string;
      Dimensions: string[][];
      Metrics: Array<{ Name: string; Unit: string }>;
    }>;
  };
  [key: string]: unknown;
}

export interface Captured {
  /** Every line written to stdout since the test began (EMF records and log lines). */
  lines: string[];
  /** The EMF records among them, in order. */
  records(): EmfRecord[];
  /** The records that carry metric `name`. */
  withMetric(name: string): EmfRecord[];
}

/** Captures stdout for each test of the file (restored after each). */
export function captureStdout(): Captured {
  const lines: string[] = [];
  let partial = '';
  beforeEach(() => {
    lines.length = 0;
    partial = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: unknown) => {
      const text =
        partial + (typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString());
      const parts = text.split('\n');
      partial = parts.pop() ?? '';
      lines.push(...parts.filter((l) => l.length > 0));
      return true;
    });
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });
  const records = () =>
    lines
      .filter((l) => l.startsWith('{') && l.includes('"_aws"'))
      .map((l) => JSON.parse(l) as EmfRecord)
      .filter((r) => Array.isArray(r._aws?.CloudWatchMetrics));
  return {
    lines,
    records,
    withMetric: (name) =>
      records().filter((r) => r._aws.CloudWatchMetrics.some((d) => d.Metrics.some((m) => m.Name === name))),
  };
}

/** A Lambda context enough for middy and Powertools. */
export function lambdaContext(over: Partial<Context> = {}): Context {
  return {
    functionName: 'swarm-deployer-test',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:swarm-deployer-test',
    memoryLimitInMB: '512',
    awsRequestId: 'request-1',
    logGroupName: '/aws/lambda/swarm-deployer-test',
    logStreamName: 'local',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => 60_000,
    done: () => {},
    fail: () => {},
    succeed: () => {},
    ...over,
  };
}
