import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { ResumeSessionCommand, StartSessionCommand, TerminateSessionCommand } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { DataChannel } from '../../../functions/lib/ssm/datachannel.js';
import {
  type ClientMessage,
  encodeFlagPayload,
  PayloadFlag,
  PayloadType,
} from '../../../functions/lib/ssm/message.js';
import { type StandInAgent, startAgent } from '../../../local/ssm/agent.js';
import { BUILTIN_DOCUMENTS, resolveParameters, substituteProperties } from '../../../local/ssm/documents.js';
import { type SsmStandIn, startSsmStandIn } from '../../../local/ssm/stand-in.js';
import { type CountingServer, engineServer, listen, ssmClient } from './harness.js';

const TARGET = 'mi-0b1b2c3d4e5f60001';
let standIn: SsmStandIn;
let agent: StandInAgent;
let engine: CountingServer<ReturnType<typeof engineServer>>;
const logs: string[] = [];

beforeAll(async () => {
  standIn = await startSsmStandIn();
  agent = await startAgent({ mgsUrl: standIn.mgsUrl, target: TARGET, log: (line) => logs.push(line) });
  await standIn.waitForAgent(TARGET);
  engine = await listen(engineServer());
});

afterAll(async () => {
  await agent?.stop();
  await standIn?.stop();
  await engine?.close();
});

async function rawCall(
  target: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(standIn.endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': target, ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

describe('SSM API stand-in (AWS JSON 1.1)', () => {
  it('requires an Authorization header but does not check signatures', async () => {
    const unsigned = await rawCall('AmazonSSM.TerminateSession', { SessionId: 's-1' });
    const signed = await rawCall(
      'AmazonSSM.TerminateSession',
      { SessionId: 's-1' },
      { authorization: 'AWS4-HMAC-SHA256 Credential=AKIDX/20240101/us-east-1/ssm/aws4_request' },
    );

    expect(unsigned).toEqual({
      status: 400,
      json: { __type: 'MissingAuthenticationTokenException', message: 'Missing Authentication Token' },
    });
    expect(signed).toEqual({ status: 200, json: { SessionId: 's-1' } });
  });

  it('answers unknown actions and bad bodies in the AWS error shape', async () => {
    const auth = { authorization: 'AWS4-HMAC-SHA256 Credential=AKIDX/20240101/us-east-1/ssm/aws4_request' };

    const unknown = await rawCall('AmazonSSM.GetParameter', { Name: '/x' }, auth);
    const missing = await rawCall('AmazonSSM.ResumeSession', {}, auth);

    expect(unknown.status).toBe(400);
    expect(unknown.json.__type).toBe('UnknownOperationException');
    expect(missing.json.__type).toBe('ValidationException');
  });

  it('lets other files register more actions on the router', async () => {
    standIn.router.register('DescribeStandIn', () => ({ Actions: standIn.router.actions }));

    const described = await rawCall('AmazonSSM.DescribeStandIn', {}, { authorization: 'x' });

    expect(described.json.Actions).toEqual([
      'StartSession',
      'TerminateSession',
      'ResumeSession',
      'DescribeStandIn',
    ]);
  });

  it('maps errors to the SDK exceptions: InvalidDocument, ValidationException, DoesNotExistException', async () => {
    const ssm = ssmClient(standIn.endpoint);
    try {
      await expect(
        ssm.send(new StartSessionCommand({ Target: TARGET, DocumentName: 'AWS-NoSuchDocument' })),
      ).rejects.toMatchObject({ name: 'InvalidDocument', $metadata: { httpStatusCode: 400 } });
      await expect(
        ssm.send(
          new StartSessionCommand({
            Target: TARGET,
            DocumentName: 'AWS-StartPortForwardingSession',
            Parameters: { nope: ['1'] },
          }),
        ),
      ).rejects.toMatchObject({ name: 'ValidationException' });
      await expect(
        ssm.send(
          new StartSessionCommand({
            Target: TARGET,
            DocumentName: 'AWS-StartPortForwardingSessionToRemoteHost',
            Parameters: { portNumber: ['80'] },
          }),
        ),
      ).rejects.toMatchObject({
        name: 'ValidationException',
        message: expect.stringContaining('"host" is required'),
      });
      await expect(
        ssm.send(new ResumeSessionCommand({ SessionId: 'nobody-0123456789abcdef0' })),
      ).rejects.toMatchObject({
        name: 'DoesNotExistException',
      });
    } finally {
      ssm.destroy();
    }
  });

  it('StartSession answers SessionId, TokenValue and a StreamUrl on the gateway; TerminateSession ends it', async () => {
    const ssm = ssmClient(standIn.endpoint);
    try {
      const started = await ssm.send(
        new StartSessionCommand({
          Target: TARGET,
          DocumentName: 'AWS-StartPortForwardingSession',
          Parameters: { portNumber: [String(engine.port)] },
        }),
      );

      expect(started.SessionId).toMatch(/^AKIATUNNELTEST-[0-9a-f]{17}$/);
      expect(started.TokenValue?.length).toBeGreaterThan(100);
      expect(started.StreamUrl).toBe(
        `ws://127.0.0.1:${standIn.port}/v1/data-channel/${started.SessionId}?role=publish_subscribe`,
      );
      await ssm.send(new TerminateSessionCommand({ SessionId: started.SessionId }));
      expect(standIn.gateway.sessionInfo(started.SessionId as string)?.state).toBe('terminated');
      await expect(
        ssm.send(new ResumeSessionCommand({ SessionId: started.SessionId })),
      ).rejects.toMatchObject({
        name: 'DoesNotExistException',
      });
    } finally {
      ssm.destroy();
    }
  });

  it('closes a data-channel websocket that presents a wrong token', async () => {
    const ssm = ssmClient(standIn.endpoint);
    try {
      const started = await ssm.send(
        new StartSessionCommand({
          Target: TARGET,
          DocumentName: 'AWS-StartPortForwardingSession',
          Parameters: { portNumber: ['1'] },
        }),
      );
      const ws = new WebSocket(started.StreamUrl as string);
      await once(ws, 'open');
      ws.send(
        JSON.stringify({ MessageSchemaVersion: '1.0', RequestId: 'r', TokenValue: 'forged', ClientId: 'c' }),
      );

      const [code] = (await once(ws, 'close')) as [number];

      expect(code).toBe(1008);
      await ssm.send(new TerminateSessionCommand({ SessionId: started.SessionId }));
    } finally {
      ssm.destroy();
    }
  });
});

describe('documents', () => {
  it('fills defaults and substitutes {{ name }} in the properties as the agent does', () => {
    const document = BUILTIN_DOCUMENTS.find(
      (candidate) => candidate.name === 'AWS-StartPortForwardingSessionToRemoteHost',
    );
    const content = document?.content;
    if (content === undefined) throw new Error('missing document');

    const values = resolveParameters(content, { host: ['db.internal'], portNumber: ['5432'] });

    expect(substituteProperties(content.properties, values)).toEqual({
      host: 'db.internal',
      localPortNumber: '0',
      portNumber: '5432',
      type: 'LocalPortForwarding',
    });
    expect(() => resolveParameters(content, { host: ['h'], portNumber: ['99999'] })).toThrow(
      /does not match/,
    );
  });
});

/**
 * A bare data-channel client (no smux) claiming an old ClientVersion: the agent must choose basic
 * port forwarding, one TCP connection carried directly in Output payloads.
 */
async function basicSession(
  clientVersion: string,
  target = TARGET,
): Promise<{
  output: () => string;
  send: (data: string) => void;
  flag: (flag: number) => void;
  close: () => Promise<void>;
}> {
  const ssm = ssmClient(standIn.endpoint);
  const started = await ssm.send(
    new StartSessionCommand({
      Target: target,
      DocumentName: 'AWS-StartPortForwardingSession',
      Parameters: { portNumber: [String(engine.port)] },
    }),
  );
  const ws = new WebSocket(started.StreamUrl as string);
  await once(ws, 'open');
  ws.send(
    JSON.stringify({
      MessageSchemaVersion: '1.0',
      RequestId: crypto.randomUUID(),
      TokenValue: started.TokenValue,
      ClientId: crypto.randomUUID(),
      ClientVersion: clientVersion,
    }),
  );
  let output = '';
  let complete: () => void = () => {};
  const handshake = new Promise<void>((resolve) => {
    complete = resolve;
  });
  const dc: DataChannel = new DataChannel({
    role: 'client',
    transmit: (frame) => ws.send(frame),
    onStreamMessage: (message: ClientMessage) => {
      if (message.payloadType === PayloadType.HandshakeRequest) {
        const response = {
          ClientVersion: clientVersion,
          ProcessedClientActions: [
            { ActionType: 'SessionType', ActionStatus: 1, ActionResult: null, Error: '' },
          ],
          Errors: null,
        };
        dc.sendStreamMessage(PayloadType.HandshakeResponse, Buffer.from(JSON.stringify(response)));
      } else if (message.payloadType === PayloadType.HandshakeComplete) {
        complete();
      } else if (message.payloadType === PayloadType.Output) {
        output += message.payload.toString('latin1');
      }
      return true;
    },
  });
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (isBinary) dc.receiveFrame(data);
  });
  await handshake;
  return {
    output: () => output,
    send: (data) => dc.writeOutput(Buffer.from(data), () => {}),
    flag: (flag) => dc.sendStreamMessage(PayloadType.Flag, encodeFlagPayload(flag)),
    close: async () => {
      await ssm.send(new TerminateSessionCommand({ SessionId: started.SessionId }));
      dc.close();
      ws.terminate();
      ssm.destroy();
    },
  };
}

describe('agent stand-in', () => {
  it('uses basic port forwarding for a client older than 1.1.70 and redials after the destination closed', async () => {
    const session = await basicSession('1.0.0.0');
    try {
      // HTTP/1.0: the destination closes after answering; the client is not told (basic mode).
      session.send('GET /_ping HTTP/1.0\r\n\r\n');
      await vi.waitFor(() => expect(session.output()).toMatch(/^HTTP\/1\.1 200 OK[\s\S]*OK$/));
      await vi.waitFor(() => expect(engine.connections()).toBe(0));

      session.send('GET /version HTTP/1.0\r\n\r\n');

      await vi.waitFor(() => expect(session.output()).toContain('"ApiVersion":"1.41"'));
      expect(logs.some((line) => line.includes('basic (agent 3.3.1142.0, client 1.0.0.0)'))).toBe(true);
    } finally {
      await session.close();
    }
  });

  it('closes the destination connection on DisconnectToPort in basic mode', async () => {
    const session = await basicSession('1.0.0.0');
    try {
      session.send('GET /hang HTTP/1.1\r\nHost: x\r\n\r\n');
      await vi.waitFor(() => expect(engine.connections()).toBe(1));

      session.flag(PayloadFlag.DisconnectToPort);

      await vi.waitFor(() => expect(engine.connections()).toBe(0));
    } finally {
      await session.close();
    }
  });

  it('uses mux for 1.1.70 and newer', async () => {
    const session = await basicSession('1.2.694.0');
    try {
      // Not smux bytes: the mux session rejects them as a protocol error and the session ends.
      session.send('GET /_ping HTTP/1.0\r\n\r\n');
      await vi.waitFor(() =>
        expect(logs.some((line) => line.includes('mux (agent 3.3.1142.0, client 1.2.694.0)'))).toBe(true),
      );
      await vi.waitFor(() =>
        expect(standIn.sessions().filter((s) => s.target === TARGET && s.state === 'active')).toHaveLength(0),
      );
      expect(session.output()).toBe('');
    } finally {
      await session.close();
    }
  });

  it('as an agent of 3.0.196.0 or older, uses basic forwarding even for a client that could multiplex', async () => {
    // Prepare: port_mux.go is not in those builds (first released in 3.0.222.0).
    const target = 'mi-0b1b2c3d4e5f60002';
    const old = await startAgent({
      mgsUrl: standIn.mgsUrl,
      target,
      agentVersion: '3.0.100.0',
      log: (line) => logs.push(line),
    });
    await standIn.waitForAgent(target);
    const session = await basicSession('1.2.694.0', target);
    try {
      // Act: plain bytes, not smux.
      session.send('GET /_ping HTTP/1.0\r\n\r\n');

      // Assess
      await vi.waitFor(() => expect(session.output()).toMatch(/^HTTP\/1\.1 200 OK[\s\S]*OK$/));
      expect(logs.some((line) => line.includes('basic (agent 3.0.100.0, client 1.2.694.0)'))).toBe(true);
    } finally {
      await session.close();
      await old.stop();
    }
  });

  it('runs as a process with agent-main.ts and stops on SIGTERM', async () => {
    const target = 'mi-0b1b2c3d4e5f60009';
    const script = fileURLToPath(new URL('../../../local/ssm/agent-main.ts', import.meta.url));
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', script, '--mgs', standIn.mgsUrl, '--target', target, '--quiet'],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    try {
      await standIn.waitForAgent(target, 15_000);
      expect(standIn.gateway.isAgentConnected(target)).toBe(true);
    } finally {
      child.kill('SIGTERM');
    }
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(0);
    await vi.waitFor(() => expect(standIn.gateway.isAgentConnected(target)).toBe(false));
  }, 20_000);
});
