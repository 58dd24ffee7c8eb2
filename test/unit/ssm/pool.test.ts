import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { withPrometheus } from '../../../functions/lib/clusters/connect.js';
import type { PlannedCluster } from '../../../functions/lib/deploy/plan.js';
import { TunnelConnectError } from '../../../functions/lib/ssm/errors.js';
import {
  closeAllTunnels,
  type PooledTunnelOptions,
  SHUTDOWN_HOOK_KEY,
  TunnelPool,
  type TunnelPoolOptions,
  tunnelPool,
} from '../../../functions/lib/ssm/pool.js';
import { type StandInAgent, startAgent } from '../../../local/ssm/agent.js';
import { type SsmStandIn, startSsmStandIn } from '../../../local/ssm/stand-in.js';
import { FunctionError, LocalFunction } from '../../../local/twin/lambda.js';
import type { ModelFunction } from '../../../local/twin/model.js';
import { type CountingServer, engineServer, get, listen, ssmClient, timedRejection } from './harness.js';

/**
 * The per-container tunnel pool (functions/lib/ssm/pool.ts) against the SSM stand-in, its agent and
 * loopback HTTP servers: reuse, resume, replacement, idle expiry, aborts, shutdown and concurrency,
 * as the stand-in (its sessions) and the SSM API calls made see them.
 */

const TARGET = 'mi-0a1b2c3d4e5f60101';
const REGION = 'us-east-1';

let standIn: SsmStandIn;
let agent: StandInAgent;
let engine: CountingServer<ReturnType<typeof engineServer>>;
let other: CountingServer<ReturnType<typeof engineServer>>;

/** The SSM client of a test: every command it sent, and the credentials StartSession and ResumeSession returned. */
interface Counted {
  ssm: SSMClient;
  commands: string[];
  count(command: string): number;
  secrets: string[];
}

const clients: SSMClient[] = [];
const pools: TunnelPool[] = [];
const extraAgents: StandInAgent[] = [];

function counted(): Counted {
  const ssm = ssmClient(standIn.endpoint);
  clients.push(ssm);
  const commands: string[] = [];
  const secrets: string[] = [];
  ssm.middlewareStack.add(
    (next, context) => async (args) => {
      commands.push(context.commandName ?? '');
      const result = await next(args);
      const output = result.output as { TokenValue?: string; StreamUrl?: string };
      for (const secret of [output.TokenValue, output.StreamUrl]) if (secret) secrets.push(secret);
      return result;
    },
    { step: 'initialize', name: 'countCommands' },
  );
  return {
    ssm,
    commands,
    count: (command) => commands.filter((c) => c === `${command}Command`).length,
    secrets,
  };
}

function pool(options: TunnelPoolOptions = {}): TunnelPool {
  const created = new TunnelPool(options);
  pools.push(created);
  return created;
}

const spec = (
  client: Counted,
  port: number,
  over: Partial<PooledTunnelOptions> = {},
): PooledTunnelOptions => ({
  ssm: client.ssm,
  region: REGION,
  target: TARGET,
  portNumber: port,
  connectTimeoutMs: 5000,
  ...over,
});

/** The stand-in's sessions started since `before` (a list of session ids known then). */
function sessionsSince(before: Set<string>) {
  return standIn.sessions().filter((s) => !before.has(s.sessionId));
}
const known = () => new Set(standIn.sessions().map((s) => s.sessionId));

async function extraAgent(target: string, options: Partial<Parameters<typeof startAgent>[0]> = {}) {
  const started = await startAgent({ mgsUrl: standIn.mgsUrl, target, ...options });
  extraAgents.push(started);
  await standIn.waitForAgent(target);
  return started;
}

beforeAll(async () => {
  standIn = await startSsmStandIn();
  agent = await startAgent({ mgsUrl: standIn.mgsUrl, target: TARGET });
  await standIn.waitForAgent(TARGET);
  engine = await listen(engineServer());
  other = await listen(engineServer());
});

afterEach(async () => {
  standIn.faults.clear();
  standIn.faults.agentLoss = 'channel_closed';
  await Promise.all(pools.splice(0).map((p) => p.closeAll()));
  await closeAllTunnels();
  await Promise.all(extraAgents.splice(0).map((extra) => extra.stop()));
  for (const client of clients.splice(0)) client.destroy();
});

afterAll(async () => {
  await agent?.stop();
  await standIn?.stop();
  await engine?.close();
  await other?.close();
});

describe('a warm container reuses its tunnels', () => {
  it('two sequential uses of one key open one session; the second is a reuse', async () => {
    // Arrange
    const before = known();
    const client = counted();
    const tunnels = pool();

    // Act
    const first = await tunnels.acquire(spec(client, engine.port));
    const one = await get(first.tunnel.agent, '/echo/1');
    await first.release();
    const second = await tunnels.acquire(spec(client, engine.port));
    const two = await get(second.tunnel.agent, '/echo/2');
    await second.release();

    // Assert
    expect([one.body, two.body]).toEqual(['echo 1', 'echo 2']);
    expect([first.opened, second.opened]).toEqual([true, false]);
    expect(first.openMs).toBeGreaterThan(0);
    expect(second.tunnel).toBe(first.tunnel);
    expect(client.count('StartSession')).toBe(1);
    expect(client.count('TerminateSession')).toBe(0);
    expect(sessionsSince(before).map((s) => s.state)).toEqual(['active']);
    expect(tunnels.stats()).toMatchObject({ opened: 1, reused: 1, reopened: 0, expired: 0, size: 1 });
  });

  it('another port of the same target opens a session of its own', async () => {
    // Arrange
    const before = known();
    const client = counted();
    const tunnels = pool();

    // Act
    const a = await tunnels.acquire(spec(client, engine.port));
    const b = await tunnels.acquire(spec(client, other.port));
    const answers = await Promise.all([get(a.tunnel.agent, '/echo/a'), get(b.tunnel.agent, '/echo/b')]);
    await Promise.all([a.release(), b.release()]);

    // Assert
    expect(answers.map((answer) => answer.body)).toEqual(['echo a', 'echo b']);
    expect(b.tunnel).not.toBe(a.tunnel);
    expect(client.count('StartSession')).toBe(2);
    expect(sessionsSince(before)).toHaveLength(2);
    expect(tunnels.stats()).toMatchObject({ opened: 2, reused: 0, size: 2 });
  });

  it('concurrent acquires of a key not yet open share one session', async () => {
    // Arrange
    const before = known();
    const client = counted();
    const tunnels = pool();

    // Act
    const leases = await Promise.all(
      Array.from({ length: 8 }, () => tunnels.acquire(spec(client, engine.port))),
    );
    const answers = await Promise.all(leases.map((lease, i) => get(lease.tunnel.agent, `/echo/${i}`)));
    await Promise.all(leases.map((lease) => lease.release()));

    // Assert
    expect(answers.map((answer) => answer.body)).toEqual(Array.from({ length: 8 }, (_, i) => `echo ${i}`));
    expect(new Set(leases.map((lease) => lease.tunnel)).size).toBe(1);
    expect(leases.filter((lease) => lease.opened)).toHaveLength(1);
    expect(client.count('StartSession')).toBe(1);
    expect(sessionsSince(before)).toHaveLength(1);
    expect(tunnels.stats()).toMatchObject({ opened: 1, reused: 7, size: 1 });
  });

  it('a websocket dropped while pooled is resumed (ResumeSession), and the next use waits for it and succeeds', async () => {
    // Arrange
    const before = known();
    const client = counted();
    const tunnels = pool();
    const first = await tunnels.acquire(spec(client, engine.port));
    await get(first.tunnel.agent, '/echo/1');
    await first.release();

    // Act: the next use starts while the tunnel is still resuming.
    expect(standIn.gateway.dropClientSocket(first.tunnel.sessionId)).toBe(1);
    const second = await tunnels.acquire(spec(client, engine.port));
    const answer = await get(second.tunnel.agent, '/echo/2');
    await second.release();

    // Assert: the same session, resumed once, and no second session.
    expect(answer.body).toBe('echo 2');
    expect(second.tunnel.sessionId).toBe(first.tunnel.sessionId);
    expect(second.tunnel.stats().reconnects).toBe(1);
    expect(client.count('ResumeSession')).toBe(1);
    expect(client.count('StartSession')).toBe(1);
    expect(sessionsSince(before).map((s) => s.state)).toEqual(['active']);
    expect(tunnels.stats()).toMatchObject({ opened: 1, reused: 1, resumed: 1, reopened: 0 });
  });

  it('a session terminated behind the pool’s back is replaced on the next use, and the call succeeds', async () => {
    // Arrange
    const client = counted();
    const tunnels = pool();
    const first = await tunnels.acquire(spec(client, engine.port));
    await first.release();
    standIn.gateway.terminateSession(first.tunnel.sessionId, 'terminated by an operator');
    await vi.waitFor(() => expect(first.tunnel.isOpen).toBe(false));

    // Act
    const second = await tunnels.acquire(spec(client, engine.port));
    const answer = await get(second.tunnel.agent, '/echo/2');
    await second.release();

    // Assert
    expect(answer.body).toBe('echo 2');
    expect(second.tunnel.sessionId).not.toBe(first.tunnel.sessionId);
    expect(second.opened).toBe(true);
    expect(client.count('StartSession')).toBe(2);
    expect(tunnels.stats()).toMatchObject({ opened: 2, reused: 0, reopened: 1, size: 1 });
  });

  it('a pooled session whose agent vanished without a word fails the probe, is terminated and replaced', async () => {
    // Arrange: the service says nothing when the agent goes; the tunnel still looks open.
    standIn.faults.agentLoss = 'silent';
    const target = 'mi-0a1b2c3d4e5f60102';
    const vanishing = await extraAgent(target);
    const before = known();
    const client = counted();
    const tunnels = pool({ probeTimeoutMs: 500 });
    const first = await tunnels.acquire(spec(client, engine.port, { target }));
    await first.release();
    vanishing.kill();
    await extraAgent(target);

    // Act
    const started = Date.now();
    const second = await tunnels.acquire(spec(client, engine.port, { target }));
    const elapsed = Date.now() - started;
    const answer = await get(second.tunnel.agent, '/echo/2');
    await second.release();
    await tunnels.settled();

    // Assert
    expect(answer.body).toBe('echo 2');
    expect(first.tunnel.isOpen).toBe(false);
    expect(second.tunnel.sessionId).not.toBe(first.tunnel.sessionId);
    expect(elapsed).toBeGreaterThanOrEqual(450);
    expect(elapsed).toBeLessThan(4000);
    expect(
      Object.fromEntries(sessionsSince(before).map((s) => [s.sessionId === first.tunnel.sessionId, s.state])),
    ).toEqual({ true: 'terminated', false: 'active' });
    expect(tunnels.stats()).toMatchObject({ opened: 2, reopened: 1, size: 1 });
  });
});

describe('idle expiry', () => {
  it('terminates a tunnel left unused for idleMs', async () => {
    // Arrange
    const before = known();
    const client = counted();
    const tunnels = pool({ idleMs: 300 });
    const lease = await tunnels.acquire(spec(client, engine.port));
    await get(lease.tunnel.agent, '/echo/1');
    await lease.release();

    // Act
    await vi.waitFor(() => expect(tunnels.stats().expired).toBe(1), { timeout: 3000 });
    await tunnels.settled();

    // Assert
    expect(sessionsSince(before).map((s) => s.state)).toEqual(['terminated']);
    expect(client.count('TerminateSession')).toBe(1);
    expect(lease.tunnel.isOpen).toBe(false);
    expect(tunnels.stats().size).toBe(0);
  });

  it('checks the last use on every acquire (no timer runs in a frozen container): reused within the window, replaced past it', async () => {
    // Arrange: a clock that only the test moves, as a thawed container sees time jump.
    let now = 1_000_000;
    const before = known();
    const client = counted();
    const tunnels = pool({ idleMs: 60_000, now: () => now });
    const first = await tunnels.acquire(spec(client, engine.port));
    await first.release();

    // Act
    now += 59_000;
    const within = await tunnels.acquire(spec(client, engine.port));
    await within.release();
    now += 61_000;
    const past = await tunnels.acquire(spec(client, engine.port));
    const answer = await get(past.tunnel.agent, '/echo/3');
    await past.release();
    await tunnels.settled();

    // Assert
    expect(answer.body).toBe('echo 3');
    expect(within.tunnel).toBe(first.tunnel);
    expect(past.tunnel).not.toBe(first.tunnel);
    expect(
      sessionsSince(before).map((s) => [s.sessionId === first.tunnel.sessionId ? 'first' : 'new', s.state]),
    ).toEqual([
      ['first', 'terminated'],
      ['new', 'active'],
    ]);
    expect(tunnels.stats()).toMatchObject({ opened: 2, reused: 1, expired: 1, reopened: 0, size: 1 });
  });
});

describe('an aborted invocation', () => {
  it('closes the tunnels it was using (TerminateSession); a tunnel idle in the pool stays open', async () => {
    // Arrange: one tunnel pooled by an earlier invocation, two in use by this one.
    const before = known();
    const client = counted();
    const tunnels = pool();
    const idle = await tunnels.acquire(spec(client, engine.port, { parameters: { localPortNumber: ['0'] } }));
    await idle.release();
    const invocation = new AbortController();
    const a = await tunnels.acquire(spec(client, engine.port), invocation.signal);
    const b = await tunnels.acquire(spec(client, other.port), invocation.signal);
    const hanging = get(a.tunnel.agent, '/hang');
    await vi.waitFor(() => expect(engine.connections()).toBeGreaterThan(0));

    // Act
    invocation.abort(new Error('middy early timeout'));
    const failed = await timedRejection(hanging);
    await Promise.all([a.release(), b.release()]);

    // Assert
    expect(failed.ms).toBeLessThan(2000);
    expect([a.tunnel.isOpen, b.tunnel.isOpen, idle.tunnel.isOpen]).toEqual([false, false, true]);
    const states = Object.fromEntries(sessionsSince(before).map((s) => [s.sessionId, s.state]));
    expect(states).toEqual({
      [idle.tunnel.sessionId]: 'active',
      [a.tunnel.sessionId]: 'terminated',
      [b.tunnel.sessionId]: 'terminated',
    });
    expect(client.count('TerminateSession')).toBe(2);
    expect(tunnels.stats()).toMatchObject({ aborted: 2, size: 1 });
  });

  it('gets its error at once while waiting for an open, and the session being opened is terminated', async () => {
    // Arrange: an agent that never completes the handshake.
    const target = 'mi-0a1b2c3d4e5f60103';
    await extraAgent(target, { silentHandshake: true });
    const before = known();
    const client = counted();
    const tunnels = pool();
    const invocation = new AbortController();
    const acquiring = tunnels.acquire(
      spec(client, engine.port, { target, connectTimeoutMs: 15_000 }),
      invocation.signal,
    );
    await vi.waitFor(() => expect(sessionsSince(before)).toHaveLength(1));

    // Act
    setTimeout(() => invocation.abort(new Error('the execution was stopped')), 100);
    const { error, ms } = await timedRejection(acquiring);
    await tunnels.settled();

    // Assert
    expect(error).toBeInstanceOf(TunnelConnectError);
    expect((error as Error).cause).toEqual(new Error('the execution was stopped'));
    expect(ms).toBeLessThan(1000);
    expect(sessionsSince(before).map((s) => s.state)).toEqual(['terminated']);
    expect(client.count('TerminateSession')).toBe(1);
    expect(tunnels.stats()).toMatchObject({ aborted: 1, opened: 0, size: 0 });
  });

  it('is refused at once when already aborted, without a session', async () => {
    const client = counted();
    const tunnels = pool();
    const invocation = new AbortController();
    invocation.abort(new Error('done'));

    const { error } = await timedRejection(tunnels.acquire(spec(client, engine.port), invocation.signal));

    expect(error).toBeInstanceOf(TunnelConnectError);
    expect(client.commands).toEqual([]);
  });
});

describe('a step reaching a cluster through the container pool (clusters/connect.ts)', () => {
  const cluster = (target: string, port: number): PlannedCluster => ({
    name: 'c1',
    region: REGION,
    target,
    engine: { port: 2375, document: 'AWS-StartPortForwardingSession' },
    prometheus: { tunnelPort: port },
    minEngineVersion: '20.10.0',
  });

  it('keeps its session open across calls, and an aborted call has ended its session by the time it returns', async () => {
    // Arrange
    const before = known();
    const client = counted();
    const deps = { ssmFor: () => client.ssm };
    await withPrometheus(deps, cluster(TARGET, engine.port), undefined, async () => 'first');
    const invocation = new AbortController();

    // Act: the second call is cut while it holds the tunnel.
    const cut = withPrometheus(
      deps,
      cluster(TARGET, engine.port),
      invocation.signal,
      () =>
        new Promise((_, reject) => {
          invocation.signal.addEventListener('abort', () => reject(invocation.signal.reason));
          setTimeout(() => invocation.abort(new Error('middy early timeout')), 50);
        }),
    );
    await timedRejection(cut);
    const states = sessionsSince(before).map((s) => s.state);

    // Assert: one session for both calls, terminated before the aborted call returned.
    expect(states).toEqual(['terminated']);
    expect(client.count('StartSession')).toBe(1);
    expect(tunnelPool().stats()).toMatchObject({ reused: 1, aborted: 1, size: 0 });
  });

  it('a call aborted while its session opens has ended that session by the time it returns', async () => {
    // Arrange
    const target = 'mi-0a1b2c3d4e5f60104';
    await extraAgent(target, { silentHandshake: true });
    const before = known();
    const client = counted();
    const invocation = new AbortController();
    setTimeout(() => invocation.abort(new Error('the execution was stopped')), 300);

    // Act
    const { error, ms } = await timedRejection(
      withPrometheus(
        { ssmFor: () => client.ssm },
        cluster(target, engine.port),
        invocation.signal,
        async () => 1,
      ),
    );

    // Assert
    expect(error).toBeInstanceOf(TunnelConnectError);
    expect(ms).toBeLessThan(2500);
    expect(sessionsSince(before).map((s) => s.state)).toEqual(['terminated']);
  });
});

describe('shutdown', () => {
  it('closeAll terminates every session of the pool, idle and in use', async () => {
    // Arrange
    const before = known();
    const client = counted();
    const tunnels = pool();
    const idle = await tunnels.acquire(spec(client, engine.port));
    await idle.release();
    const busy = await tunnels.acquire(spec(client, other.port));

    // Act
    await tunnels.closeAll();
    await busy.release();

    // Assert
    expect(sessionsSince(before).map((s) => s.state)).toEqual(['terminated', 'terminated']);
    expect(client.count('TerminateSession')).toBe(2);
    expect(tunnels.stats().size).toBe(0);
  });

  it('closeAllTunnels and the global shutdown hook end the container pool’s sessions', async () => {
    // Arrange
    const before = known();
    const client = counted();
    const first = await tunnelPool().acquire(spec(client, engine.port));
    await first.release();
    const hook = (globalThis as unknown as Record<symbol, unknown>)[Symbol.for(SHUTDOWN_HOOK_KEY)];

    // Act
    await (hook as () => Promise<void>)();
    const afterHook = sessionsSince(before).map((s) => s.state);
    const second = await tunnelPool().acquire(spec(client, engine.port));
    await second.release();
    await closeAllTunnels();

    // Assert
    expect(typeof hook).toBe('function');
    expect(afterHook).toEqual(['terminated']);
    expect(second.opened).toBe(true);
    expect(sessionsSince(before).map((s) => s.state)).toEqual(['terminated', 'terminated']);
    expect(tunnelPool().stats().size).toBe(0);
  });
});

describe('logs', () => {
  it('report reuse, replacement, expiry and shutdown, and never a token or stream URL', async () => {
    // Arrange
    const lines: Array<{ level: string; message: string; extra: unknown[] }> = [];
    const logger = Object.fromEntries(
      (['debug', 'info', 'warn', 'error'] as const).map((level) => [
        level,
        (message: string, ...extra: unknown[]) => lines.push({ level, message, extra }),
      ]),
    ) as unknown as PooledTunnelOptions['logger'];
    let now = 0;
    const client = counted();
    const tunnels = pool({ idleMs: 60_000, now: () => now });
    const options = spec(client, engine.port, { ...(logger ? { logger } : {}) });

    // Act: open, reuse, a websocket resumed, a session replaced, one expired, shutdown.
    await (await tunnels.acquire(options)).release();
    standIn.gateway.dropClientSocket();
    const reused = await tunnels.acquire(options);
    await reused.release();
    standIn.gateway.terminateSession(reused.tunnel.sessionId);
    await vi.waitFor(() => expect(reused.tunnel.isOpen).toBe(false));
    await (await tunnels.acquire(options)).release();
    now += 60_000;
    await (await tunnels.acquire(options)).release();
    await tunnels.closeAll();

    // Assert
    const messages = lines.map((line) => line.message);
    expect(messages).toEqual(
      expect.arrayContaining([
        'ssm tunnel open',
        'ssm tunnel reused',
        'ssm tunnel resumed',
        'ssm tunnel gone: opening a new session',
        'ssm tunnel idle past its window: terminated',
        'ssm tunnel terminated at shutdown',
      ]),
    );
    const text = JSON.stringify(lines);
    expect(client.secrets.length).toBeGreaterThanOrEqual(4);
    for (const secret of client.secrets) expect(text).not.toContain(secret);
    expect(text).not.toMatch(/TokenValue|wss?:\/\//);
  });
});

describe('the local twin asks an environment to shut down before discarding it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pool-twin-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // A bundle whose shutdown hook (the global the pool registers) leaves a mark for each call.
  const code = (marker: string) => `
import { appendFileSync } from 'node:fs';
globalThis[Symbol.for('${SHUTDOWN_HOOK_KEY}')] = async () => {
  await new Promise((resolve) => setTimeout(resolve, 50));
  appendFileSync(${JSON.stringify(marker)}, 'shutdown\\n');
};
export const handler = async (event) => {
  if (event.hang) await new Promise(() => setInterval(() => {}, 1000));
  return 'ok';
};`;

  function twinFunction(name: string, timeoutSeconds: number): { f: LocalFunction; marker: string } {
    const codeDir = join(dir, name);
    mkdirSync(codeDir, { recursive: true });
    const marker = join(codeDir, 'marker');
    writeFileSync(join(codeDir, 'index.mjs'), code(marker));
    const model: ModelFunction = {
      handler: name,
      name: `twin-${name}`,
      arn: `arn:aws:lambda:us-east-1:000000000000:function:twin-${name}`,
      codeDir,
      entry: 'index.handler',
      runtime: 'nodejs22.x',
      architectures: ['arm64'],
      timeoutSeconds,
      memoryMb: 128,
      environment: {},
      role: { name: 'r', arn: 'arn:aws:iam::000000000000:role/r', policies: [] },
    };
    return { f: new LocalFunction(model, {}), marker };
  }

  it('at twin stop, and after a timeout', async () => {
    // Arrange
    const stopped = twinFunction('stopped', 5);
    const timedOut = twinFunction('timed-out', 1);

    // Act
    expect(await stopped.f.invoke({})).toBe('ok');
    const beforeStop = existsSync(stopped.marker);
    await stopped.f.close();
    const error = await timedOut.f.invoke({ hang: true }).catch((e: unknown) => e);
    await timedOut.f.close();

    // Assert: once each, the timed-out environment before the timeout was reported.
    expect(beforeStop).toBe(false);
    expect(readFileSync(stopped.marker, 'utf8')).toBe('shutdown\n');
    expect(error).toBeInstanceOf(FunctionError);
    expect((error as FunctionError).name).toBe('Sandbox.Timedout');
    expect(readFileSync(timedOut.marker, 'utf8')).toBe('shutdown\n');
  });
});
