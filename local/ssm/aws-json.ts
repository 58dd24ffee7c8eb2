import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * A tiny AWS JSON 1.1 server side: POST / with `X-Amz-Target: <prefix>.<Action>` and a JSON body,
 * answered with `application/x-amz-json-1.1`. Errors use the shape the SDK parses:
 * HTTP 400 (or the status given) and `{"__type": "<Code>", "message": "..."}`.
 * Actions are registered by name, so other files can add theirs (Parameter Store, …).
 */

export class AwsJsonError extends Error {
  override readonly name = 'AwsJsonError';
  readonly type: string;
  readonly statusCode: number;

  constructor(type: string, message: string, statusCode = 400) {
    super(message);
    this.type = type;
    this.statusCode = statusCode;
  }
}

export interface AwsJsonContext {
  requestId: string;
  /** The Host header, for building URLs that point back at this server. */
  host: string;
  /** The access key id from the Authorization header (verified only when `caller` is set). */
  accessKeyId: string | undefined;
  /** The caller whose SigV4 signature the stand-in verified (only when it enforces IAM). */
  caller?: VerifiedCaller;
}

/** A caller identified by its SigV4 signature (local/iam). */
export interface VerifiedCaller {
  accessKeyId: string;
  /** arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION, or arn:aws:iam::ACCOUNT:user/NAME. */
  arn: string;
  /** aws:userid (`ROLEID:SESSION` for a role session). */
  userId: string;
  /** The role session name, or the user name. */
  name: string;
}

/** What the server already did with a request before handing it to a router. */
export interface PreparedRequest {
  /** The body, when the server has read it already (the request stream is then consumed). */
  body?: Buffer;
  caller?: VerifiedCaller;
}

export type AwsJsonHandler = (input: Record<string, unknown>, context: AwsJsonContext) => unknown;

export class AwsJsonRouter {
  private readonly targetPrefix: string;
  private readonly handlers = new Map<string, AwsJsonHandler>();

  /** @param targetPrefix the service's target prefix, for example `AmazonSSM`. */
  constructor(targetPrefix: string) {
    this.targetPrefix = targetPrefix;
  }

  register(action: string, handler: AwsJsonHandler): this {
    if (this.handlers.has(action)) throw new Error(`action ${action} is already registered`);
    this.handlers.set(action, handler);
    return this;
  }

  get actions(): string[] {
    return [...this.handlers.keys()];
  }

  /** True when this request is for this router (an X-Amz-Target with its prefix). */
  matches(req: IncomingMessage): boolean {
    const target = req.headers['x-amz-target'];
    return typeof target === 'string' && target.startsWith(`${this.targetPrefix}.`);
  }

  async handle(req: IncomingMessage, res: ServerResponse, prepared: PreparedRequest = {}): Promise<void> {
    const requestId = randomUUID();
    try {
      const body =
        prepared.body ??
        (await readBody(req, {
          maxBytes: 1024 * 1024,
          tooLarge: () => new AwsJsonError('SerializationException', 'the request body is too large', 413),
        }));
      if (req.method !== 'POST')
        throw new AwsJsonError('UnknownOperationException', 'only POST is served', 404);
      const authorization = req.headers.authorization;
      // Signatures are not checked (any credentials will do), but unsigned calls are refused as AWS does.
      if (typeof authorization !== 'string' || authorization === '') {
        throw new AwsJsonError('MissingAuthenticationTokenException', 'Missing Authentication Token');
      }
      const target = req.headers['x-amz-target'];
      const action =
        typeof target === 'string' && target.startsWith(`${this.targetPrefix}.`)
          ? target.slice(this.targetPrefix.length + 1)
          : undefined;
      const handler = action === undefined ? undefined : this.handlers.get(action);
      if (handler === undefined) {
        throw new AwsJsonError('UnknownOperationException', `unknown operation ${String(target)}`);
      }
      let input: unknown;
      try {
        input = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
      } catch {
        throw new AwsJsonError('SerializationException', 'the request body is not JSON');
      }
      if (input === null || typeof input !== 'object' || Array.isArray(input)) {
        throw new AwsJsonError('SerializationException', 'the request body is not a JSON object');
      }
      const output = await handler(input as Record<string, unknown>, {
        requestId,
        host: req.headers.host ?? 'localhost',
        accessKeyId: prepared.caller?.accessKeyId ?? /Credential=([^/,\s]+)/.exec(authorization)?.[1],
        ...(prepared.caller === undefined ? {} : { caller: prepared.caller }),
      });
      send(res, 200, requestId, output ?? {});
    } catch (error) {
      if (error instanceof AwsJsonError) {
        send(res, error.statusCode, requestId, { __type: error.type, message: error.message });
      } else {
        send(res, 500, requestId, { __type: 'InternalServerError', message: String(error) });
      }
    }
  }
}

function send(res: ServerResponse, status: number, requestId: string, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/x-amz-json-1.1',
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': requestId,
  });
  res.end(text);
}

/** How much of a request body a stand-in reads, and what it answers beyond that. */
export interface BodyLimit {
  maxBytes: number;
  /** The error the read rejects with once the body passes maxBytes. */
  tooLarge: () => Error;
  /** Destroys the request then (default true); false leaves the answer to the caller. */
  destroy?: boolean;
}

/** Reads a whole request (or response) body, up to `limit` when given. */
export function readBody(stream: IncomingMessage, limit?: BodyLimit): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (limit !== undefined && size > limit.maxBytes) {
        reject(limit.tooLarge());
        if (limit.destroy !== false) stream.destroy();
        return;
      }
      chunks.push(chunk);
    });
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

/** Reads a required string member. @throws AwsJsonError ValidationException */
export function requireString(input: Record<string, unknown>, member: string): string {
  const value = input[member];
  if (typeof value !== 'string' || value === '') {
    throw new AwsJsonError(
      'ValidationException',
      `1 validation error detected: Value at '${member}' failed to satisfy constraint: Member must not be null`,
    );
  }
  return value;
}
