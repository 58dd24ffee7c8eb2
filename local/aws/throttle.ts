import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';

/**
 * AWS's API quotas as token buckets, for the stand-ins. AWS states its rate quotas as a bucket
 * size (the burst a caller may spend at once) and a refill rate (tokens added per second): the
 * Step Functions quotas page ("throttled using a token bucket scheme", StartExecution 1,300 with a
 * refill of 300 per second in the largest regions, SendTaskSuccess/Failure/Heartbeat 3,000/500,
 * https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html) and, as transactions
 * per second, Systems Manager (Parameter Store: 40 per second shared by GetParameter,
 * GetParameters and GetParametersByPath by default, https://docs.aws.amazon.com/general/latest/gr/ssm.html),
 * SNS (Publish per region, https://docs.aws.amazon.com/general/latest/gr/sns.html) and DynamoDB
 * (on demand: 40,000 request units per table by default, new tables 4,000 writes and 12,000 reads
 * at once, https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/on-demand-capacity-mode-max-throughput.html).
 *
 * Nothing is throttled unless a bucket is configured for the API: the stand-ins serve every call
 * by default, as before. A throttled call is answered the way the service answers it on the wire
 * (see `sendThrottlingError` and the SNS router's guard in local/aws/server.ts).
 */

/** One token bucket: `burst` tokens at most, `perSecond` added every second. */
export interface TokenBucketOptions {
  /** Bucket size: the calls allowed at once after an idle spell (at least 1). */
  burst: number;
  /** Refill rate: tokens added per second, up to `burst` (more than 0). */
  perSecond: number;
}

export class TokenBucket {
  private tokens: number;
  private at: number;

  /** @throws RangeError when burst < 1 or perSecond <= 0 */
  constructor(
    readonly options: TokenBucketOptions,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(Number.isFinite(options.burst) && options.burst >= 1)) {
      throw new RangeError(`a token bucket needs a burst of at least 1, got ${options.burst}`);
    }
    if (!(Number.isFinite(options.perSecond) && options.perSecond > 0)) {
      throw new RangeError(`a token bucket needs a refill rate above 0 per second, got ${options.perSecond}`);
    }
    this.tokens = options.burst;
    this.at = now();
  }

  /** Tokens in the bucket now (negative while reservations are owed). */
  get available(): number {
    this.refill();
    return this.tokens;
  }

  /** Takes a token if there is one: false means the call is throttled. */
  tryTake(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /**
   * Takes a token whether or not there is one, going into debt when the bucket is empty.
   * @returns how long the caller must wait (ms) for the token to have been refilled; 0 when it was there
   */
  reserve(): number {
    this.refill();
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.options.perSecond) * 1000;
  }

  private refill(): void {
    const now = this.now();
    const elapsed = Math.max(0, now - this.at) / 1000;
    this.tokens = Math.min(this.options.burst, this.tokens + elapsed * this.options.perSecond);
    this.at = now;
  }
}

/**
 * An API as IAM names its action: `ssm:StartSession`, `ssm:GetParameter`, `states:StartExecution`,
 * `states:SendTaskSuccess`, `sns:Publish`, `dynamodb:PutItem`. `<service>:*` is one bucket shared
 * by every action of the service that has no bucket of its own (DynamoDB's capacity is per table,
 * not per action: `dynamodb:*`).
 */
export type ThrottledApi = `${string}:${string}`;

/** Buckets by API. */
export type ThrottleConfig = Partial<Record<ThrottledApi, TokenBucketOptions>>;

/** What one API's bucket did. */
export interface ThrottleCount {
  admitted: number;
  throttled: number;
}

/** The API quotas of one stand-in: a bucket per configured API and what each did. */
export class ApiThrottle {
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly counts = new Map<string, ThrottleCount>();

  constructor(config: ThrottleConfig = {}) {
    this.configure(config);
  }

  /**
   * Sets (replaces) the bucket of each API given, full; `undefined` removes one. Buckets of APIs
   * not named stay as they are.
   * @throws RangeError for a bucket that is not a bucket (burst < 1, perSecond <= 0) or a bad name
   */
  configure(config: ThrottleConfig): void {
    for (const [api, options] of Object.entries(config)) {
      if (!/^[a-z0-9-]+:(\*|[A-Za-z0-9]+)$/.test(api)) {
        throw new RangeError(`'${api}' is not an API name such as ssm:StartSession or dynamodb:*`);
      }
      if (options === undefined) this.buckets.delete(api);
      else this.buckets.set(api, new TokenBucket(options));
    }
  }

  /** Removes every bucket: nothing is throttled any more. The counts stay. */
  clear(): void {
    this.buckets.clear();
  }

  /** True while at least one bucket is configured. */
  get enabled(): boolean {
    return this.buckets.size > 0;
  }

  /**
   * Decides one call: true when it may be served, false when its bucket is empty (the caller then
   * answers with the service's throttling error). Calls of an API without a bucket are always
   * admitted and not counted.
   */
  admit(service: string, action: string): boolean {
    if (this.buckets.size === 0) return true;
    const api = `${service}:${action}`;
    const bucket = this.buckets.get(api) ?? this.buckets.get(`${service}:*`);
    if (bucket === undefined) return true;
    const admitted = bucket.tryTake();
    const count = this.counts.get(api) ?? { admitted: 0, throttled: 0 };
    if (admitted) count.admitted++;
    else count.throttled++;
    this.counts.set(api, count);
    return admitted;
  }

  /** Admitted and throttled calls by API (`ssm:StartSession`), for the APIs under a bucket. */
  stats(): Record<string, ThrottleCount> {
    return Object.fromEntries([...this.counts].map(([api, count]) => [api, { ...count }]));
  }

  /** Throttled calls of one API (`ssm:StartSession`), of a service (`ssm:*`), or of all. */
  throttled(api?: string): number {
    let total = 0;
    for (const [name, count] of this.counts) {
      if (api === undefined || name === api || (api.endsWith(':*') && name.startsWith(api.slice(0, -1))))
        total += count.throttled;
    }
    return total;
  }

  /** Forgets the counts (the buckets stay). */
  resetCounts(): void {
    this.counts.clear();
  }
}

/** The IAM service prefix of each AWS JSON target prefix the stand-ins serve. */
const SERVICE_OF_TARGET: Record<string, string> = {
  AmazonSSM: 'ssm',
  AWSStepFunctions: 'states',
  DynamoDB_20120810: 'dynamodb',
  AmazonEC2ContainerRegistry_V20150921: 'ecr',
};

/** The service and action of an AWS JSON request (`X-Amz-Target: AmazonSSM.StartSession`). */
export function apiOfTarget(target: unknown): { service: string; action: string } | undefined {
  if (typeof target !== 'string') return undefined;
  const dot = target.indexOf('.');
  if (dot < 0) return undefined;
  const service = SERVICE_OF_TARGET[target.slice(0, dot)];
  const action = target.slice(dot + 1);
  return service === undefined || action === '' ? undefined : { service, action };
}

/** What AWS says when a call is throttled ("ThrottlingException: Rate exceeded"). */
export const RATE_EXCEEDED = 'Rate exceeded';

/**
 * DynamoDB's answer to a request over an on-demand table's capacity: ThrottlingException (400),
 * which the SDK model lists among DynamoDB's errors with ProvisionedThroughputExceededException
 * (provisioned tables) and RequestLimitExceeded (the account's quota). The message is the one
 * on-demand tables return (the SDK's error output shows it as
 * `api error ThrottlingException: Throughput exceeds the current capacity of your table or index…`).
 * Throttling reasons: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/TroubleshootingThrottling.html
 */
export const DYNAMODB_THROTTLED_MESSAGE =
  'Throughput exceeds the current capacity of your table or index. DynamoDB is automatically scaling your ' +
  'table or index so please try again shortly. If exceptions persist, check if you have a hot key: ' +
  'https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html';

/**
 * Answers a throttled AWS JSON call as the service does: HTTP 400 with
 * `{"__type": "ThrottlingException", "message": "Rate exceeded"}` (Systems Manager, Step
 * Functions, ECR; the errors their throttled callers report: "An error occurred
 * (ThrottlingException) when calling the GetParameter operation: Rate exceeded",
 * https://repost.aws/knowledge-center/ssm-parameter-store-rate-exceeded), the Coral service
 * framework's `x-amzn-ErrorType` header that names the error too, and an `x-amzn-RequestId`.
 * DynamoDB's own shape is `{"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException",
 * "message": DYNAMODB_THROTTLED_MESSAGE}`. The SDK classifies either as a throttling error
 * (its error name is in @smithy/core's THROTTLING_ERROR_CODES) and retries it.
 */
export function sendThrottlingError(res: ServerResponse, service: string): void {
  const dynamodb = service === 'dynamodb';
  const body = JSON.stringify(
    dynamodb
      ? {
          __type: 'com.amazonaws.dynamodb.v20120810#ThrottlingException',
          message: DYNAMODB_THROTTLED_MESSAGE,
        }
      : { __type: 'ThrottlingException', message: RATE_EXCEEDED },
  );
  res.writeHead(400, {
    'content-type':
      dynamodb || service === 'states' ? 'application/x-amz-json-1.0' : 'application/x-amz-json-1.1',
    'content-length': Buffer.byteLength(body),
    'x-amzn-requestid': randomUUID(),
    ...(dynamodb
      ? {}
      : {
          'x-amzn-errortype':
            'ThrottlingException:http://internal.amazon.com/coral/com.amazon.coral.availability/',
        }),
  });
  res.end(body);
}
