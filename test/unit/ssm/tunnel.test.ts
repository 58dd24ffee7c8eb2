import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import Docker from 'dockerode';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  EncryptionNotSupportedError,
  PortConnectError,
  SessionStartError,
  TunnelClosedError,
  TunnelConnectError,
  TunnelHandshakeError,
} from '../../../functions/lib/ssm/errors.js';
import { decodeMessage, PayloadType } from '../../../functions/lib/ssm/message.js';
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
  });

  it('still holds with 5% of frames dropped and 5% reordered', async () => {
    // Prepare
    standIn.faults.set({ drop: 0.05, reorder: 0.05, seed: 42 });
    const web = await open({ portNumber: engine.port });
    const tunnel = await open({ portNumber: bulk.port });
    const upload = randomBytes(BULK);

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
    expect(received.restSha256).toBe(sha256(bulkBlob));
    expect(standIn.faults.stats.dropped).toBeGreaterThan(1000);
    expect(standIn.faults.stats.reordered).toBeGreaterThan(1000);
    expect(tunnel.stats().resent).toBeGreaterThan(0);
  });

  it('works with an agent that resends exactly as upstream (oldest message, once per tick)', async () => {
    const target = 'mi-0a1b2c3d4e5f60006';
    await extraAgent(target, { faithfulResend: true });
    standIn.faults.set({ drop: 0.1, reorder: 0.05, seed: 11 });
    const tunnel = await open({ portNumber: engine.port, target });

    const responses = await Promise.all(
      Array.from({ length: 64 }, (_, i) => get(tunnel.agent, `/echo/${i}`)),
    );

    expect(responses.map((response) => response.body)).toEqual(
      Array.from({ length: 64 }, (_, i) => `echo ${i}`),
    );
    expect(standIn.faults.stats.dropped).toBeGreaterThan(0);
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
    stream.once('data', () => {
      dropped = standIn.gateway.dropClientSocket(tunnel.sessionId);
    });

    // Act
    const received = await exchange(stream, upload);

    // Assess
    expect(dropped).toBe(1);
    expect(tunnel.stats().reconnects).toBe(1);
    expect(received.head).toBe(sha256(upload));
    expect(received.restSha256).toBe(sha256(bulkBlob));
  });

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

describe('openTunnel failures are typed and bounded', () => {
  it('an unknown target fails with SessionStartError (InvalidTarget), not retryable', async () => {
    const { error, ms } = await timedRejection(open({ portNumber: 2375, target: 'mi-00000000000000bad' }));

    expect(error).toBeInstanceOf(SessionStartError);
    expect(error).toMatchObject({
      name: 'SessionStartError',
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

  it('a session the agent would not multiplex is refused with TunnelHandshakeError, not retryable', async () => {
    // AWS-StartSSHSession has no type LocalPortForwarding; an agent of 3.0.196.0 predates mux.
    const sshDocument = await timedRejection(
      open({ portNumber: engine.port, documentName: 'AWS-StartSSHSession' }),
    );
    const target = 'mi-0a1b2c3d4e5f60007';
    await extraAgent(target, { agentVersion: '3.0.196.0' });
    const oldAgent = await timedRejection(open({ portNumber: engine.port, target }));

    expect(sshDocument.error).toBeInstanceOf(TunnelHandshakeError);
    expect(sshDocument.error).toMatchObject({
      retryable: false,
      message: expect.stringContaining('LocalPortForwarding'),
    });
    expect(oldAgent.error).toMatchObject({ name: 'TunnelHandshakeError', retryable: false });
    expect((oldAgent.error as Error).message).toContain('3.0.196.0');
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
