import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody } from '../ssm/aws-json.js';

/**
 * The server side of the AWS Query protocol (SNS): a form-encoded POST (or a GET with the same
 * parameters in the URL) with `Action` and `Version`, answered in XML:
 * `<ActionResponse xmlns><ActionResult>…</ActionResult><ResponseMetadata><RequestId>` on success,
 * `<ErrorResponse><Error><Type>Sender</Type><Code>…</Code><Message>…</Message></Error><RequestId>`
 * with the error's HTTP status otherwise. The SDK picks its exception class from <Code> (its
 * awsQueryError trait: NotFound → NotFoundException, InvalidParameter → InvalidParameterException).
 * Lists and maps arrive flattened: `Tags.member.1.Key`, `Attributes.entry.1.key`,
 * `MessageAttributes.entry.1.Name` + `MessageAttributes.entry.1.Value.DataType`.
 */

export class QueryError extends Error {
  override readonly name = 'QueryError';

  constructor(
    readonly code: string,
    message: string,
    readonly statusCode = 400,
    /** Sender for the caller's mistakes, Receiver for the service's own. */
    readonly faultType: 'Sender' | 'Receiver' = 'Sender',
  ) {
    super(message);
  }
}

export interface QueryRequest {
  action: string;
  params: URLSearchParams;
  requestId: string;
  /** The access key id from the Authorization header (not verified). */
  accessKeyId: string | undefined;
}

/** One handler per action: returns the inner XML of <ActionResult> (or undefined for none). */
export type QueryHandler = (request: QueryRequest) => string | undefined | Promise<string | undefined>;

const MAX_BODY = 2 * 1024 * 1024;

export class QueryRouter {
  private readonly handlers = new Map<string, QueryHandler>();
  /**
   * Asked for every call once its action is known, before its handler: an error to answer
   * instead (the stand-in's API quotas: see local/aws/throttle.ts), or undefined to go on.
   */
  guard: ((action: string) => QueryError | undefined) | undefined;

  /**
   * @param service the signing name this router answers for (sns)
   * @param xmlns the namespace of the responses (http://sns.amazonaws.com/doc/2010-03-31/)
   */
  constructor(
    readonly service: string,
    private readonly xmlns: string,
  ) {}

  register(action: string, handler: QueryHandler): this {
    if (this.handlers.has(action)) throw new Error(`action ${action} is already registered`);
    this.handlers.set(action, handler);
    return this;
  }

  get actions(): string[] {
    return [...this.handlers.keys()];
  }

  /** @param preread the body, when the server has read it already */
  async handle(req: IncomingMessage, res: ServerResponse, preread?: Buffer): Promise<void> {
    const requestId = randomUUID();
    try {
      const body = (
        preread ??
        (await readBody(req, {
          maxBytes: MAX_BODY,
          tooLarge: () => new QueryError('RequestEntityTooLarge', 'the request body is too large', 413),
        }))
      ).toString('utf8');
      const url = new URL(req.url ?? '/', 'http://stand-in');
      const params = req.method === 'GET' ? url.searchParams : new URLSearchParams(body);
      const authorization = req.headers.authorization;
      const credential =
        (typeof authorization === 'string' ? /Credential=([^,\s]+)/.exec(authorization)?.[1] : undefined) ??
        params.get('X-Amz-Credential') ??
        undefined;
      // Signatures are not checked (any credentials will do), but unsigned calls are refused as AWS does.
      if (credential === undefined) {
        throw new QueryError('MissingAuthenticationToken', 'Request is missing Authentication Token', 403);
      }
      const scope = credential.split('/');
      const service = scope[3];
      if (service !== undefined && service !== this.service) {
        throw new QueryError(
          'InvalidAction',
          `The stand-in serves no Query protocol service '${service}' (only ${this.service}).`,
        );
      }
      const action = params.get('Action');
      if (action === null || action === '') throw new QueryError('MissingAction', 'Missing Action');
      const handler = this.handlers.get(action);
      if (handler === undefined) {
        throw new QueryError('InvalidAction', `The action ${action} is not valid for this web service.`);
      }
      const refusal = this.guard?.(action);
      if (refusal !== undefined) throw refusal;
      const result = await handler({ action, params, requestId, accessKeyId: scope[0] });
      const inner = result === undefined ? '' : `<${action}Result>${result}</${action}Result>`;
      send(
        res,
        200,
        requestId,
        `<${action}Response xmlns="${this.xmlns}">${inner}` +
          `<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${action}Response>`,
      );
    } catch (error) {
      const failure =
        error instanceof QueryError ? error : new QueryError('InternalError', String(error), 500, 'Receiver');
      sendQueryError(res, this.xmlns, requestId, failure);
    }
  }
}

/** `<tag>text</tag>` with the text escaped; nothing for undefined. */
export function element(tag: string, text: string | number | boolean | undefined): string {
  return text === undefined ? '' : `<${tag}>${escapeXml(String(text))}</${tag}>`;
}

export function escapeXml(text: string): string {
  return text.replace(/[&<>"\r]/g, (char) => {
    switch (char) {
      case '&':
        return '&amp;';
      case '<':
        return '&lt;';
      case '>':
        return '&gt;';
      case '"':
        return '&quot;';
      default:
        return '&#13;';
    }
  });
}

/**
 * The members of a flattened list or map: `<prefix>.member.N.<rest>` or `<prefix>.entry.N.<rest>`,
 * in index order, each as a map from `<rest>` (possibly empty for a list of scalars) to its value.
 */
export function flattened(params: URLSearchParams, prefix: string): Array<Map<string, string>> {
  const byIndex = new Map<number, Map<string, string>>();
  const pattern = new RegExp(`^${prefix.replace(/\./g, '\\.')}\\.(?:member|entry)\\.(\\d+)(?:\\.(.+))?$`);
  for (const [key, value] of params) {
    const match = pattern.exec(key);
    if (match === null) continue;
    const index = Number(match[1]);
    const fields = byIndex.get(index) ?? new Map<string, string>();
    fields.set(match[2] ?? '', value);
    byIndex.set(index, fields);
  }
  return [...byIndex.entries()].sort(([a], [b]) => a - b).map(([, fields]) => fields);
}

/** Answers `failure` as the Query protocol's <ErrorResponse>, with its HTTP status. */
export function sendQueryError(
  res: ServerResponse,
  xmlns: string,
  requestId: string,
  failure: QueryError,
): void {
  send(
    res,
    failure.statusCode,
    requestId,
    `<ErrorResponse xmlns="${xmlns}"><Error><Type>${failure.faultType}</Type>` +
      `<Code>${escapeXml(failure.code)}</Code><Message>${escapeXml(failure.message)}</Message></Error>` +
      `<RequestId>${requestId}</RequestId></ErrorResponse>`,
  );
}

function send(res: ServerResponse, status: number, requestId: string, xml: string): void {
  res.writeHead(status, {
    'content-type': 'text/xml',
    'content-length': Buffer.byteLength(xml),
    'x-amzn-requestid': requestId,
  });
  res.end(xml);
}
