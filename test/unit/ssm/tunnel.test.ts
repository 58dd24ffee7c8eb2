import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import Docker from 'dockerode';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  EncryptionNotSupportedError,
  PortConnectError,
  SessionRefusedError,
  TunnelClosedError,
  TunnelConnectError,
  TunnelHandshakeError,
} from '../../../functions/lib/ssm/errors.js';
import {
  decodeAckPayload,
  decodeMessage,
  MessageType,
  PayloadFlag,
  PayloadType,
} from '../../../functions/lib/ssm/message.js';
import {
  dockerOptions,
  openTunnel,
  REMOTE_HOST_PORT_FORWARDING_DOCUMENT,
  type Tunnel,
} from '../../../functions/lib/ssm/tunnel.js';
import { type StandInAgent, startAgent } from '../../../local/ssm/agent.js';
import { type SsmStandIn, startSsmStandIn } from '../../../local/ssm/stand-in.js';
import {
  type CountingServer,
  engineServer,
  exchange,
  get,
  hashServer,
  listen,
  sha256,
  ssmClient,
  timedRejection,
} from './harness.js';

const TARGET = 'mi-0a1b2c3d4e5f60001';
const NEVER_CONNECTED = 'mi-0a1b2c3d4e5f6ffff';
const MiB = 1024 * 1024;
const BULK = 50 * MiB;
const fixture = (name: string): Buffer => readFileSync(new URL(`./fixtures/${name}`, import.meta.url));

let standIn: SsmStandIn;
let agent: StandInAgent;
let engine: CountingServer<ReturnType<typeof engineServer>>;
let bulk: CountingServer<ReturnType<typeof hashServer>>;
let bulkBlob: Buffer;
const clients: ReturnType<typeof ssmClient>[] = [];
const ssm = (): ReturnType<typeof ssmClient> => {
  const client = ssmClient(standIn.endpoint);
  clients.push(client);
  return client;
};
const extraAgents: StandInAgent[] = [];
const tunnels: Tunnel[] = [];

async function open(
  options: Partial<Parameters<typeof openTunnel>[0]> & { portNumber: number },
): Promise<Tunnel> {
  const tunnel = await openTunnel({ ssm: ssm(), target: TARGET, connectTimeoutMs: 5000, ...options });
  tunnels.push(tunnel);
  return tunnel;
}

async function extraAgent(
  target: string,
  options: Partial<Parameters<typeof startAgent>[0]> = {},
): Promise<StandInAgent> {
  const started = await startAgent({ mgsUrl: standIn.mgsUrl, target, ...options });
  extraAgents.push(started);
  await standIn.waitForAgent(target);
  return started;
}

beforeAll(async () => {
  standIn = await startSsmStandIn({ knownTargets: [NEVER_CONNECTED] });
  agent = await startAgent({ mgsUrl: standIn.mgsUrl, target: TARGET });
  await standIn.waitForAgent(TARGET);
  engine = await listen(engineServer());
  bulkBlob = randomBytes(BULK);
  bulk = await listen(hashServer(BULK, bulkBlob));
});

afterEach(async () => {
  standIn.faults.clear();
  standIn.faults.agentLoss = 'channel_closed';
  await Promise.all(tunnels.splice(0).map((tunnel) => tunnel.close()));
  await Promise.all(extraAgents.splice(0).map((extra) => extra.stop()));
  for (const client of clients.splice(0)) client.destroy();
});

afterAll(async () => {
  await agent?.stop();
  await standIn?.stop();
  await engine?.close();
  await bulk?.close();
});

describe('openTunnel through the real SDK, the stand-in and the agent', () => {
  it('carries 32 concurrent HTTP requests over one session, for node:http and dockerode', async () => {
    // Prepare
    const before = standIn.sessions().length;
    const tunnel = await open({ portNumber: engine.port });

    // Act
    const responses = await Promise.all(
      Array.from({ length: 32 }, (_, i) => get(tunnel.agent, `/echo/${i}`)),
    );
    const docker = new Docker(dockerOptions(tunnel));
    const ping = await docker.ping();
    const version = await docker.version();

    // Assess
    expect(responses.map((response) => response.body)).toEqual(
      Array.from({ length: 32 }, (_, i) => `echo ${i}`),
    );
    expect(engine.peak()).toBeGreaterThan(1);
    expect(String(ping)).toBe('OK');
    expect(version.ApiVersion).toBe('1.41');
    expect(standIn.sessions()).toHaveLength(before + 1);
    expect(tunnel.info).toMatchObject({
      target: TARGET,
      agentVersion: '3.3.1142.0',
      portSession: 'mux',
      properties: { portNumber: String(engine.port), type: 'LocalPortForwarding' },
    });
  });

  it('moves 50 MiB each way through one stream byte for byte', async () => {
    const tunnel = await open({ portNumber: bulk.port });
    const upload = randomBytes(BULK);

    const received = await exchange(tunnel.connect(), upload);

    expect(received.head).toBe(sha256(upload));
    expect(received.restLength).toBe(BULK);
    expect(received.restSha256).toBe(sha256(bulkBlob));
    // About 5 s on an idle machine; the bound leaves room for a busy one.
  }, 60_000);

  it('still holds with 5% of frames dropped and 5% reordered', async () => {
    // Prepare: 50 MiB up, but only 256 KiB down: the agent recovers one lost message per 100 ms
    // tick, as the real one, so 5% of 51 200 frames down would take minutes.
    const smallBlob = randomBytes(256 * 1024);
    const small = await listen(hashServer(BULK, smallBlob));
    standIn.faults.set({ drop: 0.05, reorder: 0.05, seed: 42 });
    const web = await open({ portNumber: engine.port });
    const tunnel = await open({ portNumber: small.port });
    const upload = randomBytes(BULK);

    try {
      // Act
      const [responses, received] = await Promise.all([
        Promise.all(Array.from({ length: 32 }, (_, i) => get(web.agent, `/echo/${i}`))),
        exchange(tunnel.connect(), upload),
      ]);

      // Assess
      expect(responses.map((response) => response.body)).toEqual(
        Array.from({ length: 32 }, (_, i) => `echo ${i}`),
      );
      expect(received.head).toBe(sha256(upload));
      expect(received.restSha256).toBe(sha256(smallBlob));
      expect(standIn.faults.stats.dropped).toBeGreaterThan(1000);
      expect(standIn.faults.stats.reordered).toBeGreaterThan(1000);
      expect(tunnel.stats().resent).toBeGreaterThan(0);
    } finally {
      await small.close();
    }
  }, 60_000);

  it('under loss the agent resends only its oldest unacknowledged message, once per tick', async () => {
    // Prepare: the first transmission of three consecutive Output messages of the agent is lost.
    const blob = randomBytes(64 * 1024);
    const server = await listen(hashServer(5, blob));
    const tunnel = await open({ portNumber: server.port });
    let firstOutput: number | undefined;
    const lost = new Set<number>();
    const sentAt = new Map<number, number>();
    const acked = new Set<number>();
    const resends: Array<{ sequence: number; at: number; oldestUnacked: boolean }> = [];
    standIn.faults.onFrame = (direction, frame) => {
      const message = decodeMessage(frame);
      if (direction === 'toAgent' && message.messageType === MessageType.Acknowledge) {
        acked.add(decodeAckPayload(message.payload).AcknowledgedMessageSequenceNumber);
      }
      if (direction !== 'toClient' || message.messageType !== MessageType.OutputStreamData) return;
      const sequence = message.sequenceNumber;
      if (sentAt.has(sequence)) {
        // Every message before it was acknowledged: it is the front of the agent's buffer.
        const older = [...sentAt.keys()].filter((earlier) => earlier < sequence);
        resends.push({
          sequence,
          at: Date.now(),
          oldestUnacked: older.every((earlier) => acked.has(earlier)),
        });
      } else {
        sentAt.set(sequence, Date.now());
      }
      if (message.payloadType === PayloadType.Output && firstOutput === undefined) {
        firstOutput = sequence;
        for (const offset of [10, 11, 12]) lost.add(sequence + offset);
      }
    };
    const dropped: number[] = [];
    standIn.faults.dropIf = (direction, frame) => {
      if (direction !== 'toClient') return false;
      const sequence = decodeMessage(frame).sequenceNumber;
      if (!lost.delete(sequence)) return false;
      dropped.push(sequence);
      return true;
    };

    try {
      // Act
      const received = await exchange(tunnel.connect(), Buffer.from('hello'));

      // Assess: the transfer completes; 13, 14… overtook the lost ones (the client's own policy
      // would resend them at once); the agent resends them one by one, a tick apart, each the
      // oldest message it has not seen acknowledged, and nothing else.
      expect(received.restSha256).toBe(sha256(blob));
      expect(dropped).toHaveLength(3);
      expect(resends.map((resend) => resend.sequence)).toEqual(dropped);
      expect(resends.every((resend) => resend.oldestUnacked)).toBe(true);
      const gaps = resends.slice(1).map((resend, i) => resend.at - (resends[i] as { at: number }).at);
      for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(90);
    } finally {
      standIn.faults.onFrame = undefined;
      await server.close();
    }
  });

  it('survives duplicated and delayed frames', async () => {
    standIn.faults.set({ duplicate: 0.1, delay: 0.05, delayMs: 30, seed: 3 });
    const tunnel = await open({ portNumber: engine.port });

    const responses = await Promise.all(
      Array.from({ length: 64 }, (_, i) => get(tunnel.agent, `/echo/${i}`)),
    );

    expect(responses.map((response) => response.body)).toEqual(
      Array.from({ length: 64 }, (_, i) => `echo ${i}`),
    );
    expect(standIn.faults.stats.duplicated).toBeGreaterThan(0);
    expect(standIn.faults.stats.delayed).toBeGreaterThan(0);
  });

  it('resumes the session with ResumeSession when the websocket drops mid-transfer', async () => {
    // Prepare
    const tunnel = await open({ portNumber: bulk.port });
    const upload = randomBytes(BULK);
    const stream = tunnel.connect();
    let dropped = 0;
    let uploaded = 0;
    // Dropped during the upload: what the client had in flight it resends at once after
    // ResumeSession. (Frames the AGENT had in flight would come back one per 100 ms tick, as
    // with the real agent: a drop mid-download of a 2 MiB window takes minutes to recover.)
    standIn.faults.onFrame = (direction, frame) => {
      if (direction !== 'toAgent' || decodeMessage(frame).messageType !== MessageType.InputStreamData) return;
      if (++uploaded === 5000) {
        setImmediate(() => {
          dropped = standIn.gateway.dropClientSocket(tunnel.sessionId);
        });
      }
    };

    try {
      // Act
      const received = await exchange(stream, upload);

      // Assess
      expect(dropped).toBe(1);
      expect(tunnel.stats().reconnects).toBe(1);
      expect(received.head).toBe(sha256(upload));
      expect(received.restSha256).toBe(sha256(bulkBlob));
    } finally {
      standIn.faults.onFrame = undefined;
    }
  }, 60_000);

  it('fails a request with PortConnectError when nothing listens, and the tunnel stays open', async () => {
    const closed = await listen(engineServer());
    const port = closed.port;
    await closed.close();
    const tunnel = await open({ portNumber: port });

    const first = await timedRejection(get(tunnel.agent, '/_ping'));
    const second = await timedRejection(get(tunnel.agent, '/_ping'));

    expect(first.error).toBeInstanceOf(PortConnectError);
    expect(second.error).toBeInstanceOf(PortConnectError);
    expect(first.ms).toBeLessThan(2000);
    expect(tunnel.isOpen).toBe(true);
  });

  it('forwards to a remote host with the …ToRemoteHost document, and the agent refuses denied addresses', async () => {
    const remote = await open({
      portNumber: engine.port,
      documentName: REMOTE_HOST_PORT_FORWARDING_DOCUMENT,
      host: '127.0.0.1',
    });
    expect((await get(remote.agent, '/_ping')).body).toBe('OK');
    expect(remote.info.properties.host).toBe('127.0.0.1');

    const denied = await open({
      portNumber: 80,
      documentName: REMOTE_HOST_PORT_FORWARDING_DOCUMENT,
      host: '169.254.169.254',
    });
    const ended = await denied.closed;

    expect(ended).toBeInstanceOf(TunnelClosedError);
    expect((ended as TunnelClosedError).reason).toBe(
      'Forwarding to IP address 169.254.169.254 is forbidden.',
    );
  });

  it('runs mutual TLS over tunnel streams for https and dockerode', async () => {
    // Prepare: an engine-like server on loopback that requires a client certificate.
    const ca = fixture('ca.pem');
    const server = https.createServer(
      {
        key: fixture('server.key'),
        cert: fixture('server.pem'),
        ca,
        requestCert: true,
        rejectUnauthorized: true,
      },
      (req, res) => {
        const peer = (req.socket as import('node:tls').TLSSocket).getPeerCertificate();
        res.end(req.url === '/_ping' ? 'OK' : `hello ${peer.subject?.CN}`);
      },
    );
    const tlsEngine = await listen(server);
    try {
      const tunnel = await open({ portNumber: tlsEngine.port });
      const cert = fixture('client.pem');
      const key = fixture('client.key');

      // Act
      const viaHttps = await get(tunnel.createTlsAgent({ ca, cert, key }), '/who', {
        secure: true,
        port: 2376,
      });
      const docker = new Docker(dockerOptions(tunnel, { ca, cert, key }));
      const ping = await docker.ping();

      // Assess
      expect(viaHttps).toEqual({ status: 200, body: 'hello deployer' });
      expect(String(ping)).toBe('OK');
    } finally {
      await tlsEngine.close();
    }
  });

  it('leaves no open handle or socket after close', async () => {
    // Prepare: resources (sockets, servers, timers) before the tunnel exists.
    const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
    await sleep(100);
    const resourcesBefore = process.getActiveResourcesInfo().sort();
    const connectionsBefore = standIn.connectionCount();
    const client = ssmClient(standIn.endpoint);
    const tunnel = await openTunnel({ ssm: client, target: TARGET, portNumber: engine.port });
    await Promise.all(Array.from({ length: 8 }, (_, i) => get(tunnel.agent, `/echo/${i}`)));
    expect(engine.connections()).toBeGreaterThan(0);

    const flags: string[] = [];
    standIn.faults.onFrame = (direction, frame) => {
      const message = decodeMessage(frame);
      if (direction === 'toAgent' && message.payloadType === PayloadType.Flag)
        flags.push(message.payload.toString('hex'));
    };

    // Act
    await tunnel.close();
    client.destroy();
    standIn.faults.onFrame = undefined;

    // Assess: checked from a plain sleep loop, so that no polling timer of our own is counted.
    expect(await tunnel.closed).toBeUndefined();
    expect(flags).toEqual(['00000002']);
    const session = standIn.sessions().find((candidate) => candidate.sessionId === tunnel.sessionId);
    expect(session?.state).toBe('terminated');
    let resourcesAfter: string[] = [];
    for (let waited = 0; waited < 3000; waited += 50) {
      await sleep(50);
      resourcesAfter = process.getActiveResourcesInfo().sort();
      if (resourcesAfter.join() === resourcesBefore.join() && engine.connections() === 0) break;
    }
    expect(resourcesAfter).toEqual(resourcesBefore);
    expect(engine.connections()).toBe(0);
    expect(standIn.connectionCount()).toBe(connectionsBefore);
    const late = await timedRejection(get(tunnel.agent, '/_ping'));
    expect(late.error).toBeInstanceOf(TunnelClosedError);
  });
});

/** Reads a raw connection until `pattern` appears in what it received. */
function readUntil(stream: Duplex, pattern: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('latin1');
      if (text.includes(pattern)) {
        stream.off('data', onData);
        resolve(text);
      }
    };
    stream.on('data', onData);
    stream.once('error', reject);
  });
}

describe('an agent too old to multiplex (basic port forwarding)', () => {
  const OLD_AGENT = 'mi-0a1b2c3d4e5f60007';

  it('a new agent multiplexes; an agent of 3.0.100.0 gives a basic session that carries requests one connection at a time', async () => {
    // Prepare
    await extraAgent(OLD_AGENT, { agentVersion: '3.0.100.0' });
    const server = await listen(engineServer());
    try {
      const tunnel = await open({ portNumber: server.port, target: OLD_AGENT });

      // Act
      const responses = await Promise.all(
        Array.from({ length: 8 }, (_, i) => get(tunnel.agent, `/echo/${i}`)),
      );
      const docker = new Docker(dockerOptions(tunnel));
      const ping = await docker.ping();
      const version = await docker.version();

      // Assess
      expect(tunnel.info).toMatchObject({ agentVersion: '3.0.100.0', portSession: 'basic' });
      expect(responses.map((response) => response.body)).toEqual(
        Array.from({ length: 8 }, (_, i) => `echo ${i}`),
      );
      expect(String(ping)).toBe('OK');
      expect(version.ApiVersion).toBe('1.41');
      expect(server.peak()).toBe(1);
      expect((await open({ portNumber: server.port })).info.portSession).toBe('mux');
    } finally {
      await server.close();
    }
  });

  it('a closed connection is followed by DisconnectToPort after its bytes, and the next one gets a new destination connection', async () => {
    // Prepare
    await extraAgent(OLD_AGENT, { agentVersion: '3.0.100.0' });
    const server = await listen(engineServer());
    const accepted: number[] = [];
    server.server.on('connection', () => accepted.push(Date.now()));
    const toAgent: Array<{ sequence: number; payloadType: number; flag?: number }> = [];
    standIn.faults.onFrame = (direction, frame) => {
      const message = decodeMessage(frame);
      if (direction !== 'toAgent' || message.messageType !== MessageType.InputStreamData) return;
      toAgent.push({
        sequence: message.sequenceNumber,
        payloadType: message.payloadType,
        ...(message.payloadType === PayloadType.Flag ? { flag: message.payload.readUInt32BE(0) } : {}),
      });
    };
    try {
      const tunnel = await open({ portNumber: server.port, target: OLD_AGENT });

      // Act: the second connection is opened (and written to) while the first is still open.
      const first = tunnel.connect();
      first.write('GET /echo/a HTTP/1.1\r\nHost: x\r\n\r\n');
      const firstAnswer = await readUntil(first, 'echo a');
      const second = tunnel.connect();
      second.write('GET /echo/b HTTP/1.1\r\nHost: x\r\n\r\n');
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(tunnel.stats().streams).toBe(2);
      first.destroy();
      const secondAnswer = await readUntil(second, 'echo b');
      second.destroy();

      // Assess
      expect(firstAnswer).toContain('echo a');
      expect(secondAnswer).not.toContain('echo a');
      const flags = toAgent.filter((entry) => entry.payloadType === PayloadType.Flag);
      expect(flags[0]?.flag).toBe(PayloadFlag.DisconnectToPort);
      const [firstOutput, secondOutput] = [
        toAgent.filter(
          (entry) => entry.payloadType === PayloadType.Output && entry.sequence < (flags[0]?.sequence ?? 0),
        ),
        toAgent.filter(
          (entry) => entry.payloadType === PayloadType.Output && entry.sequence > (flags[0]?.sequence ?? 0),
        ),
      ];
      expect(firstOutput.length).toBeGreaterThan(0);
      expect(secondOutput.length).toBeGreaterThan(0);
      expect(accepted).toHaveLength(2);
      expect(server.peak()).toBe(1);
    } finally {
      standIn.faults.onFrame = undefined;
      await server.close();
    }
  });
});

describe('openTunnel failures are typed and bounded', () => {
  it('an unknown target fails with SessionRefusedError (InvalidTarget), not retryable', async () => {
    const { error, ms } = await timedRejection(open({ portNumber: 2375, target: 'mi-00000000000000bad' }));

    // Not a SessionStartError: the workflow retries that one by name.
    expect(error).toBeInstanceOf(SessionRefusedError);
    expect(error).toMatchObject({
      name: 'SessionRefusedError',
      awsErrorName: 'InvalidTarget',
      retryable: false,
    });
    expect(ms).toBeLessThan(2000);
  });

  it('a target whose agent is not connected fails with SessionStartError (TargetNotConnected), retryable', async () => {
    const { error } = await timedRejection(open({ portNumber: 2375, target: NEVER_CONNECTED }));

    expect(error).toMatchObject({
      name: 'SessionStartError',
      awsErrorName: 'TargetNotConnected',
      retryable: true,
    });
  });

  it('a handshake that never completes fails with TunnelHandshakeError within the connect timeout', async () => {
    // Prepare
    const target = 'mi-0a1b2c3d4e5f60002';
    await extraAgent(target, { silentHandshake: true });

    // Act
    const { error, ms } = await timedRejection(
      open({ portNumber: engine.port, target, connectTimeoutMs: 1000 }),
    );

    // Assess
    expect(error).toBeInstanceOf(TunnelHandshakeError);
    expect((error as TunnelHandshakeError).retryable).toBe(true);
    expect(ms).toBeGreaterThanOrEqual(950);
    expect(ms).toBeLessThan(3000);
    await vi.waitFor(() =>
      expect(
        standIn
          .sessions()
          .filter((s) => s.target === target)
          .map((s) => s.state),
      ).toEqual(['terminated']),
    );
  });

  it('a document without type LocalPortForwarding is refused with TunnelHandshakeError, not retryable', async () => {
    // AWS-StartSSHSession: the plugin would forward stdin/stdout (StandardStreamForwarding).
    const sshDocument = await timedRejection(
      open({ portNumber: engine.port, documentName: 'AWS-StartSSHSession' }),
    );

    expect(sshDocument.error).toBeInstanceOf(TunnelHandshakeError);
    expect(sshDocument.error).toMatchObject({
      retryable: false,
      message: expect.stringContaining('LocalPortForwarding'),
    });
  });

  it('keeps sending smux NOPs to agents that may still run smux keepalive (up to 3.1.1511.0)', async () => {
    const target = 'mi-0a1b2c3d4e5f60008';
    await extraAgent(target, { agentVersion: '3.1.1511.0' });
    const nops: number[] = [];
    standIn.faults.onFrame = (direction, frame) => {
      const message = decodeMessage(frame);
      if (direction === 'toAgent' && message.payloadType === PayloadType.Output) {
        if (message.payload.toString('hex') === '0103000000000000') nops.push(Date.now());
      }
    };
    try {
      await open({ portNumber: engine.port, target, keepaliveMs: 100 });
      await vi.waitFor(() => expect(nops.length).toBeGreaterThanOrEqual(3), { timeout: 2000 });
    } finally {
      standIn.faults.onFrame = undefined;
    }
  });

  it('a KMS encryption request is refused with EncryptionNotSupportedError', async () => {
    const target = 'mi-0a1b2c3d4e5f60003';
    await extraAgent(target, { requestEncryption: true });

    const { error, ms } = await timedRejection(open({ portNumber: engine.port, target }));

    expect(error).toBeInstanceOf(EncryptionNotSupportedError);
    expect((error as EncryptionNotSupportedError).retryable).toBe(false);
    expect(ms).toBeLessThan(3000);
    await vi.waitFor(() => {
      const session = standIn.sessions().find((s) => s.target === target);
      expect(session?.state).toBe('terminated');
    });
  });

  it('an aborted signal fails the open with TunnelConnectError, and aborting later closes the tunnel', async () => {
    const aborted = new AbortController();
    aborted.abort(new Error('deadline'));
    const { error } = await timedRejection(open({ portNumber: engine.port, signal: aborted.signal }));
    expect(error).toBeInstanceOf(TunnelConnectError);

    const later = new AbortController();
    const tunnel = await open({ portNumber: engine.port, signal: later.signal });
    later.abort(new Error('deadline'));
    expect(await tunnel.closed).toBeInstanceOf(TunnelClosedError);
  });

  it('the agent going away mid-request fails the request with TunnelClosedError (channel_closed)', async () => {
    // Prepare
    const target = 'mi-0a1b2c3d4e5f60004';
    const doomed = await extraAgent(target);
    const tunnel = await open({ portNumber: engine.port, target });
    const request = get(tunnel.agent, '/hang');
    await vi.waitFor(() => expect(engine.connections()).toBeGreaterThan(0));

    // Act
    doomed.kill();

    // Assess
    const { error, ms } = await timedRejection(request);
    expect(error).toBeInstanceOf(TunnelClosedError);
    expect(ms).toBeLessThan(3000);
    expect(await tunnel.closed).toBeInstanceOf(TunnelClosedError);
    expect(tunnel.isOpen).toBe(false);
  });

  it('the agent going away while the service stays silent is noticed by the keepalive probe', async () => {
    // Prepare
    standIn.faults.agentLoss = 'silent';
    const target = 'mi-0a1b2c3d4e5f60005';
    const doomed = await extraAgent(target);
    const tunnel = await open({ portNumber: engine.port, target, keepaliveMs: 200, ackTimeoutMs: 1500 });
    const request = get(tunnel.agent, '/hang');
    await vi.waitFor(() => expect(engine.connections()).toBeGreaterThan(0));

    // Act
    doomed.kill();

    // Assess
    const { error, ms } = await timedRejection(request);
    expect(error).toBeInstanceOf(TunnelClosedError);
    expect((error as Error).message).toMatch(/acknowledged nothing/);
    expect(ms).toBeLessThan(4000);
  });
});
