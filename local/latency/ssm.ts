import { SSMClient, type SSMClientConfig } from '@aws-sdk/client-ssm';
import { type StandInAgent, type StartAgentOptions, startAgent } from '../ssm/agent.js';
import { type SsmStandIn, type SsmStandInOptions, startSsmStandIn } from '../ssm/stand-in.js';
import type { LatencyProfile } from './model.js';
import { type DelayProxy, linkDelay, startDelayProxy } from './proxy.js';

/**
 * The SSM stand-in (local/ssm) behind the latency model: three delaying proxies in front of its
 * one HTTP server, one per path of a Session Manager session on AWS.
 *
 * ```
 *  SSMClient ── api proxy (a) ──────────┐
 *  (Lambda)                             ├─► stand-in: SSM API + message gateway ◄── agent proxy (c) ── agent ── engine
 *  tunnel ws ── messages proxy (b) ─────┘
 * ```
 *
 * The stand-in writes StreamUrls with the host its API was called on; on AWS the StreamUrl names
 * ssmmessages.<region>.amazonaws.com, another endpoint than ssm.<region>.amazonaws.com. The
 * clients made here rewrite the StreamUrl of StartSession and ResumeSession answers to the
 * messages proxy (an SDK middleware), so the websocket takes path (b) and the API calls path (a).
 * Agents started here dial the gateway through the agent proxy and behave as the profile says
 * (pacing, kept-alive CreateDataChannel calls).
 */

export interface ModelledSsmOptions {
  profile: LatencyProfile;
  /** Options of the stand-in itself (knownTargets, throttle, log). */
  standIn?: SsmStandInOptions;
}

/** An SSM client of the model and the commands it sent. */
export interface ModelledSsmClient {
  readonly ssm: SSMClient;
  /** How many times the client sent that command (`StartSession`, `TerminateSession`, …). */
  count(command: string): number;
  /** Every command sent, in order, without the `Command` suffix. */
  readonly commands: readonly string[];
}

export interface ModelledSsm {
  readonly profile: LatencyProfile;
  readonly standIn: SsmStandIn;
  /** (a) API calls, (b) the client's data-channel websockets, (c) the agents' connections. */
  readonly proxies: { readonly api: DelayProxy; readonly messages: DelayProxy; readonly agent: DelayProxy };
  /** The SSM API endpoint behind path (a). */
  readonly endpoint: string;
  /** The message gateway URL agents dial, behind path (c). */
  readonly agentMgsUrl: string;
  /**
   * An SSM client whose calls take path (a) and whose StreamUrls take path (b), counting its
   * commands. Static test credentials and region us-east-1 unless `config` says otherwise.
   */
  client(config?: Partial<SSMClientConfig>): ModelledSsmClient;
  /** An agent stand-in registered as `target`, dialling through path (c), with the profile's agent behaviour. */
  startAgent(target: string, options?: Partial<StartAgentOptions>): Promise<StandInAgent>;
  /** Stops the agents started here, the clients made here, the proxies and the stand-in. */
  stop(): Promise<void>;
}

/** Starts the SSM stand-in and the model's three proxies in front of it. */
export async function startModelledSsm(options: ModelledSsmOptions): Promise<ModelledSsm> {
  const { profile } = options;
  const standIn = await startSsmStandIn(options.standIn);
  const target = { host: standIn.host, port: standIn.port };
  const proxies: DelayProxy[] = [];
  try {
    for (const link of [profile.lambdaToApi, profile.lambdaToMessages, profile.agentToMessages]) {
      proxies.push(await startDelayProxy({ target, ...linkDelay(link) }));
    }
  } catch (error) {
    await Promise.all(proxies.map((p) => p.close()));
    await standIn.stop();
    throw error;
  }
  const [api, messages, agentProxy] = proxies as [DelayProxy, DelayProxy, DelayProxy];
  const agents: StandInAgent[] = [];
  const clients: SSMClient[] = [];
  let stopping: Promise<void> | undefined;

  return {
    profile,
    standIn,
    proxies: { api, messages, agent: agentProxy },
    endpoint: `http://${api.authority}`,
    agentMgsUrl: `ws://${agentProxy.authority}`,
    client(config = {}) {
      const ssm = new SSMClient({
        endpoint: `http://${api.authority}`,
        region: 'us-east-1',
        credentials: { accessKeyId: 'AKIALATENCYMODEL', secretAccessKey: 'not-checked' },
        maxAttempts: 1,
        ...config,
      });
      clients.push(ssm);
      const commands: string[] = [];
      ssm.middlewareStack.add(
        (next, context) => async (args) => {
          commands.push((context.commandName ?? '').replace(/Command$/, ''));
          const result = await next(args);
          const output = result.output as { StreamUrl?: string };
          if (typeof output?.StreamUrl === 'string') {
            output.StreamUrl = withAuthority(output.StreamUrl, messages.authority);
          }
          return result;
        },
        { step: 'initialize', name: 'latencyModelStreamUrl' },
      );
      return {
        ssm,
        commands,
        count: (command) => commands.filter((c) => c === command).length,
      };
    },
    async startAgent(targetId, agentOptions = {}) {
      const agent = await startAgent({
        mgsUrl: `ws://${agentProxy.authority}`,
        target: targetId,
        outputPacingMs: profile.agent.outputPacingMs,
        keepAliveRequests: profile.agent.keepAliveRequests,
        ...agentOptions,
      });
      agents.push(agent);
      await standIn.waitForAgent(targetId, 30_000);
      return agent;
    },
    stop() {
      stopping ??= (async () => {
        await Promise.all(agents.map((agent) => agent.stop()));
        for (const ssm of clients) ssm.destroy();
        await Promise.all(proxies.map((proxy) => proxy.close()));
        await standIn.stop();
      })();
      return stopping;
    },
  };
}

/** `url` with its host and port replaced by `authority` (host:port). */
function withAuthority(url: string, authority: string): string {
  const parsed = new URL(url);
  const [host, port] = splitAuthority(authority);
  parsed.hostname = host;
  parsed.port = port;
  return parsed.toString();
}

function splitAuthority(authority: string): [string, string] {
  const index = authority.lastIndexOf(':');
  return [authority.slice(0, index), authority.slice(index + 1)];
}
