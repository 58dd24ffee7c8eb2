import { randomBytes } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import bcrypt from 'bcryptjs';
import { encodeRegistryAuth } from '../../functions/lib/swarm/registry-auth.js';
import type { FleetOptions, RegistryLayout } from './layout.js';
import { spawnDaemon, tail, waitFor } from './sys.js';

export interface RegistryCredentials {
  username: string;
  password: string;
}

/** The registry gate's configuration file (GateConfig in registry-gate.mjs). */
interface GateConfig extends RegistryCredentials {
  listen: { host: string; port: number };
  upstream: { host: string; port: number };
  realm: string;
  keyFile: string;
}

/** Where the registry sends its push notifications: the host side of its link. */
export const eventsUrl = (o: FleetOptions, r: RegistryLayout) =>
  `http://${r.gateway}:${o.eventsPort}/registry-events`;

/**
 * The HMAC key of the ECR tokens the registry gate accepts (random per fleet, mode 0600): the ECR
 * stand-in mints `AWS:<expiresAt>.<mac>` with it (local/aws/ecr.ts, registryTokenPassword).
 */
export const tokenKeyFile = (r: RegistryLayout) => join(r.dir, 'token-key');

const GATE = join(dirname(fileURLToPath(import.meta.url)), 'registry-gate.mjs');
const REALM = 'swarm-deployer-fleet';

/**
 * The distribution registry (Debian's docker-registry) in a namespace of its own, standing in for
 * ECR: htpasswd authentication with a password made for this fleet, storage under the state
 * directory, and push notifications to `eventsUrl` (a later part of the local runtime consumes them;
 * until it listens, the registry retries with backoff and pushes are not affected).
 *
 * Clients do not reach it directly: it listens on the namespace's loopback (port + 1), behind the
 * registry gate (registry-gate.mjs) on the registry's address and port, which also accepts ECR
 * tokens that expire, as ECR's do. Both run in the registry's namespace: `down` ends them with it.
 */
export async function startRegistry(
  o: FleetOptions,
  r: RegistryLayout,
): Promise<{ pids: number[]; credentials: RegistryCredentials }> {
  await mkdir(join(r.dir, 'data'), { recursive: true });
  const credentials = { username: 'deployer', password: randomBytes(18).toString('base64url') };
  const htpasswd = join(r.dir, 'htpasswd');
  await writeFile(htpasswd, `${credentials.username}:${bcrypt.hashSync(credentials.password, 10)}\n`, {
    mode: 0o600,
  });
  const upstreamPort = r.port + 1;
  const config = {
    version: 0.1,
    log: { level: 'warn', accesslog: { disabled: true } },
    storage: { filesystem: { rootdirectory: join(r.dir, 'data') }, delete: { enabled: true } },
    http: { addr: `127.0.0.1:${upstreamPort}`, secret: randomBytes(16).toString('hex') },
    auth: { htpasswd: { realm: REALM, path: htpasswd } },
    notifications: {
      endpoints: [
        {
          name: 'deployer',
          url: eventsUrl(o, r),
          timeout: '2s',
          threshold: 3,
          backoff: '5s',
          ignore: { actions: ['pull'] },
        },
      ],
    },
  };
  const configFile = join(r.dir, 'config.yml');
  await writeFile(configFile, JSON.stringify(config, null, 2), { mode: 0o600 });
  const log = join(r.dir, 'registry.log');
  const pid = spawnDaemon(r.netns, 'docker-registry', ['serve', configFile], log);

  const keyFile = tokenKeyFile(r);
  await writeFile(keyFile, randomBytes(32), { mode: 0o600 });
  await chmod(keyFile, 0o600);
  const gate: GateConfig = {
    listen: { host: '0.0.0.0', port: r.port },
    upstream: { host: '127.0.0.1', port: upstreamPort },
    realm: REALM,
    ...credentials,
    keyFile,
  };
  const gateConfig = join(r.dir, 'gate.json');
  await writeFile(gateConfig, JSON.stringify(gate, null, 2), { mode: 0o600 });
  const gateLog = join(r.dir, 'gate.log');
  const gatePid = spawnDaemon(r.netns, process.execPath, [GATE, gateConfig], gateLog);

  // Ready when the gate refuses an anonymous /v2/ and lets the fleet's user through to the registry.
  const url = `http://${r.address}:${r.port}/v2/`;
  await waitFor(
    `the registry at ${url}`,
    async () => ((await registryAnswers(url, credentials)) ? true : undefined),
    20_000,
    async () =>
      `registry log (${log}):\n${await tail(log)}\nregistry gate log (${gateLog}):\n${await tail(gateLog)}`,
  );
  return { pids: [pid, gatePid], credentials };
}

/** The registry answers through its gate: 401 without credentials, 200 with the fleet's. */
export async function registryAnswers(
  url: string,
  c: RegistryCredentials,
  timeoutMs = 3000,
): Promise<boolean> {
  const basic = `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
  const get = (headers: Record<string, string>) =>
    fetch(url, { headers, signal: AbortSignal.timeout(timeoutMs) }).then(async (res) => {
      await res.arrayBuffer();
      return res.status;
    });
  return (await get({})) === 401 && (await get({ authorization: basic })) === 200;
}

/** The X-Registry-Auth header value for the fleet's registry (the production encoder, see there). */
export function registryAuthHeader(serveraddress: string, c: RegistryCredentials): string {
  return encodeRegistryAuth(c.username, c.password, serveraddress);
}
