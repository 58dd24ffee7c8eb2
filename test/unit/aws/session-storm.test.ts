import { SSMClient, TerminateSessionCommand } from '@aws-sdk/client-ssm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SDK_RETRY } from '../../../functions/lib/deps.js';
import { SessionStartError } from '../../../functions/lib/ssm/errors.js';
import { openTunnel, type Tunnel } from '../../../functions/lib/ssm/tunnel.js';
import { type StandInAgent, startAgent } from '../../../local/ssm/agent.js';
import { type SsmStandIn, startSsmStandIn } from '../../../local/ssm/stand-in.js';
import { type CountingServer, engineServer, get, listen } from '../ssm/harness.js';

/**
 * A wave opening many SSM tunnels at once against Session Manager's StartSession quota: every
 * tunnel has its own SDK client (one per Lambda container), configured as functions/lib/deps.ts
 * configures the deployer's, against the stand-in with a small StartSession bucket.
 */

const TARGET = 'mi-0a1b2c3d4e5f60042';
const CREDENTIALS = { accessKeyId: 'AKIASTORMTEST', secretAccessKey: 'not-checked' };

let standIn: SsmStandIn;
let agent: StandInAgent;
let engine: CountingServer<ReturnType<typeof engineServer>>;
const clients: SSMClient[] = [];
const tunnels: Tunnel[] = [];

function ssm(retry: object): SSMClient {
  const client = new SSMClient({
    endpoint: standIn.endpoint,
    region: 'us-east-1',
    credentials: CREDENTIALS,
    ...retry,
  });
  clients.push(client);
  return client;
}

/**
 * Opens `count` tunnels at once, each with its own client; the outcome of each. The clients make
 * one (unthrottled) TerminateSession call first, so that their StartSession calls leave together
 * rather than as each client finishes its first-call set-up, which a busy machine spreads out.
 */
async function storm(count: number, retry: object) {
  const made = Array.from({ length: count }, () => ssm(retry));
  await Promise.all(made.map((client) => client.send(new TerminateSessionCommand({ SessionId: 'warm-up' }))));
  return Promise.allSettled(
    made.map(async (client) => {
      const tunnel = await openTunnel({
        ssm: client,
        target: TARGET,
        portNumber: engine.port,
        connectTimeoutMs: 20_000,
      });
      tunnels.push(tunnel);
      return tunnel;
    }),
  );
}

beforeAll(async () => {
  standIn = await startSsmStandIn();
  agent = await startAgent({ mgsUrl: standIn.mgsUrl, target: TARGET });
  await standIn.waitForAgent(TARGET);
  engine = await listen(engineServer());
});

afterEach(async () => {
  await Promise.all(tunnels.splice(0).map((tunnel) => tunnel.close()));
  for (const client of clients.splice(0)) client.destroy();
  standIn.throttle.clear();
  standIn.throttle.resetCounts();
});

afterAll(async () => {
  await agent?.stop();
  await standIn?.stop();
  await engine?.close();
});

describe('a StartSession storm against a throttled Session Manager', () => {
  it("opens all 40 tunnels with the deployer's retry settings; the stand-in counted the throttles", async () => {
    standIn.throttle.configure({ 'ssm:StartSession': { burst: 5, perSecond: 20 } });
    const started = performance.now();

    const outcomes = await storm(40, SDK_RETRY);
    const elapsed = performance.now() - started;

    const failures = outcomes.filter((o) => o.status === 'rejected');
    expect(failures).toEqual([]);
    const opened = outcomes.map((o) => (o as PromiseFulfilledResult<Tunnel>).value);
    const answers = await Promise.all(opened.map((tunnel, i) => get(tunnel.agent, `/echo/${i}`)));
    expect(answers.map((a) => a.body)).toEqual(opened.map((_, i) => `echo ${i}`));
    expect(standIn.throttle.stats()['ssm:StartSession']).toMatchObject({ admitted: 40 });
    expect(standIn.throttle.throttled('ssm:StartSession')).toBeGreaterThan(0);
    // 35 refills at 20 per second is the least it can take.
    expect(elapsed).toBeGreaterThan(1700);
  }, 30_000);

  it("loses tunnels with the SDK's default of 3 attempts, as retryable SessionStartErrors", async () => {
    standIn.throttle.configure({ 'ssm:StartSession': { burst: 3, perSecond: 3 } });

    const outcomes = await storm(40, { maxAttempts: 3 });

    const failures = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as unknown] : []));
    expect(failures.length).toBeGreaterThan(10);
    for (const failure of failures) {
      expect(failure).toBeInstanceOf(SessionStartError);
      expect(failure).toMatchObject({ retryable: true, awsErrorName: 'ThrottlingException' });
    }
  }, 30_000);
});
