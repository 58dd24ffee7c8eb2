import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { listen } from '../listen.js';
import { readBody } from '../ssm/aws-json.js';

/** The X-Amz-Target prefix of DynamoDB (AWS JSON 1.0). */
export const DYNAMODB_TARGET_PREFIX = 'DynamoDB_20120810';

/** What the stand-in says about a table's Time to Live (DescribeTimeToLive's TimeToLiveDescription). */
export interface TimeToLiveDescription {
  TimeToLiveStatus: 'ENABLED' | 'DISABLED';
  AttributeName?: string;
}

type DynaliteFactory = (options: Record<string, unknown>) => http.Server;
const require = createRequire(import.meta.url);

/** The actions dynalite serves, plus the two TTL actions answered here. */
const DYNALITE_ACTIONS = [
  'BatchGetItem',
  'BatchWriteItem',
  'CreateTable',
  'DeleteItem',
  'DeleteTable',
  'DescribeTable',
  'GetItem',
  'ListTables',
  'PutItem',
  'Query',
  'Scan',
  'TagResource',
  'UntagResource',
  'ListTagsOfResource',
  'UpdateItem',
  'UpdateTable',
];
const TTL_ACTIONS = ['UpdateTimeToLive', 'DescribeTimeToLive'];

/**
 * DynamoDB for the stand-in: dynalite in memory on its own ephemeral loopback port, reached
 * through the stand-in's one endpoint. Every request whose X-Amz-Target starts with
 * `DynamoDB_20120810.` is forwarded as it came (method, path, headers, body) and dynalite's
 * answer is sent back as it is. dynalite has no UpdateTimeToLive and always describes TTL as
 * DISABLED, so those two actions are answered here (the table's existence is checked against
 * dynalite) and each table's TTL setting is kept until the table is deleted. Expired items are
 * not swept: DynamoDB itself deletes them only within days, so code must not rely on it.
 */
export class DynamoDbStandIn {
  private readonly ttl = new Map<string, TimeToLiveDescription>();
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  private readonly sockets = new Set<Socket>();
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly server: http.Server,
    /** dynalite's own port on 127.0.0.1: not for clients, who use the stand-in's endpoint. */
    readonly port: number,
  ) {
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  /** Starts dynalite in memory on an ephemeral 127.0.0.1 port. */
  static async start(): Promise<DynamoDbStandIn> {
    const dynalite = require('dynalite') as DynaliteFactory;
    const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
    return new DynamoDbStandIn(server, await listen(server, 0, '127.0.0.1'));
  }

  /** The actions served, for the stand-in's health page. */
  get actions(): string[] {
    return [...DYNALITE_ACTIONS, ...TTL_ACTIONS];
  }

  /** True when the request is a DynamoDB call. */
  matches(req: IncomingMessage): boolean {
    const target = req.headers['x-amz-target'];
    return typeof target === 'string' && target.startsWith(`${DYNAMODB_TARGET_PREFIX}.`);
  }

  /** The TTL setting of a table as DescribeTimeToLive reports it. */
  timeToLive(tableName: string): TimeToLiveDescription {
    return this.ttl.get(tableName) ?? { TimeToLiveStatus: 'DISABLED' };
  }

  /** Answers one DynamoDB request: forwarded to dynalite, or the TTL actions answered here. */
  async handle(req: IncomingMessage, res: ServerResponse, preread?: Buffer): Promise<void> {
    let body: Buffer;
    try {
      body = preread ?? (await readBody(req));
    } catch {
      res.destroy();
      return;
    }
    const action = String(req.headers['x-amz-target']).slice(DYNAMODB_TARGET_PREFIX.length + 1);
    try {
      if (TTL_ACTIONS.includes(action)) {
        await this.answerTimeToLive(action, req, body, res);
        return;
      }
      const answer = await this.forward(req.method ?? 'POST', req.url ?? '/', req.headers, body);
      if (action === 'DeleteTable' && answer.status === 200) this.ttl.delete(tableNameOf(body) ?? '');
      res.writeHead(answer.status, answer.headers);
      res.end(answer.body);
    } catch (error) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      sendError(res, 500, 'InternalServerError', `dynalite did not answer: ${(error as Error).message}`);
    }
  }

  /** Stops dynalite and closes every connection to it; leaves no handle open. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.agent.destroy();
      this.server.close(() => resolve());
      for (const socket of this.sockets) socket.destroy();
    });
    return this.closing;
  }

  private async answerTimeToLive(
    action: string,
    req: IncomingMessage,
    body: Buffer,
    res: ServerResponse,
  ): Promise<void> {
    let input: {
      TableName?: unknown;
      TimeToLiveSpecification?: { AttributeName?: unknown; Enabled?: unknown };
    };
    try {
      input = JSON.parse(body.toString('utf8')) as typeof input;
    } catch {
      sendError(res, 400, 'com.amazon.coral.service#SerializationException', 'the body is not JSON');
      return;
    }
    const tableName = input.TableName;
    if (typeof tableName !== 'string' || tableName.length < 3) {
      sendError(
        res,
        400,
        'com.amazon.coral.validate#ValidationException',
        "1 validation error detected: Value at 'tableName' failed to satisfy constraint: Member must have length greater than or equal to 3",
      );
      return;
    }
    // Does the table exist? Ask dynalite with the same (unchecked) signature headers.
    const describe = await this.forward(
      'POST',
      '/',
      { ...req.headers, 'x-amz-target': `${DYNAMODB_TARGET_PREFIX}.DescribeTable` },
      Buffer.from(JSON.stringify({ TableName: tableName })),
    );
    if (describe.status !== 200) {
      res.writeHead(describe.status, describe.headers);
      res.end(describe.body);
      return;
    }
    if (action === 'DescribeTimeToLive') {
      sendJson(res, { TimeToLiveDescription: this.timeToLive(tableName) });
      return;
    }
    const spec = input.TimeToLiveSpecification;
    const attributeName = spec?.AttributeName;
    if (
      spec === undefined ||
      typeof spec.Enabled !== 'boolean' ||
      typeof attributeName !== 'string' ||
      attributeName.length < 1 ||
      attributeName.length > 255
    ) {
      sendError(
        res,
        400,
        'com.amazon.coral.validate#ValidationException',
        "1 validation error detected: Value at 'timeToLiveSpecification' failed to satisfy constraint: Member must have an AttributeName (1 to 255 characters) and Enabled",
      );
      return;
    }
    const current = this.timeToLive(tableName);
    if (spec.Enabled && current.TimeToLiveStatus === 'ENABLED') {
      sendError(res, 400, 'com.amazon.coral.validate#ValidationException', 'TimeToLive is already enabled');
      return;
    }
    if (!spec.Enabled && current.TimeToLiveStatus === 'DISABLED') {
      sendError(res, 400, 'com.amazon.coral.validate#ValidationException', 'TimeToLive is already disabled');
      return;
    }
    if (!spec.Enabled && current.AttributeName !== attributeName) {
      sendError(
        res,
        400,
        'com.amazon.coral.validate#ValidationException',
        `TimeToLive is active on a different AttributeName: current AttributeName is ${current.AttributeName}`,
      );
      return;
    }
    this.ttl.set(
      tableName,
      spec.Enabled
        ? { TimeToLiveStatus: 'ENABLED', AttributeName: attributeName }
        : { TimeToLiveStatus: 'DISABLED' },
    );
    sendJson(res, { TimeToLiveSpecification: { AttributeName: attributeName, Enabled: spec.Enabled } });
  }

  private forward(
    method: string,
    path: string,
    headers: http.IncomingHttpHeaders,
    body: Buffer,
  ): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
    const forwarded: http.OutgoingHttpHeaders = { ...headers, 'content-length': body.length };
    delete forwarded.connection;
    delete forwarded['transfer-encoding'];
    delete forwarded.expect;
    return new Promise((resolve, reject) => {
      const request = http.request(
        { host: '127.0.0.1', port: this.port, method, path, headers: forwarded, agent: this.agent },
        (response) => {
          readBody(response).then(
            (answer) => {
              const out = { ...response.headers };
              delete out.connection;
              delete out['keep-alive'];
              delete out['transfer-encoding'];
              out['content-length'] = String(answer.length);
              resolve({ status: response.statusCode ?? 502, headers: out, body: answer });
            },
            (error: unknown) => reject(error),
          );
        },
      );
      request.on('error', reject);
      request.end(body);
    });
  }
}

function tableNameOf(body: Buffer): string | undefined {
  try {
    const name = (JSON.parse(body.toString('utf8')) as { TableName?: unknown }).TableName;
    return typeof name === 'string' ? name : undefined;
  } catch {
    return undefined;
  }
}

function sendJson(res: ServerResponse, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(200, {
    'content-type': 'application/x-amz-json-1.0',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

function sendError(res: ServerResponse, status: number, type: string, message: string): void {
  const body = JSON.stringify({ __type: type, message });
  res.writeHead(status, {
    'content-type': 'application/x-amz-json-1.0',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}
