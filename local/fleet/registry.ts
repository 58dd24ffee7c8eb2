import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { encodeRegistryAuth } from '../../functions/lib/swarm/registry-auth.js';
import type { FleetOptions, RegistryLayout } from './layout.js';
import { spawnDaemon, tail, waitFor } from './sys.js';

export interface RegistryCredentials {
  username: string;
  password: string;
}

/** Where the registry sends its push notifications: the host side of its link. */
export const eventsUrl = (o: FleetOptions, r: RegistryLayout) =>
  `http://${r.gateway}:${o.eventsPort}/registry-events`;

/**
 * The distribution registry (Debian's docker-registry) in a namespace of its own, standing in for
 * ECR: htpasswd authentication with a password made for this fleet, storage under the state
 * directory, and push notifications to `eventsUrl` (a later part of the local runtime consumes them;
 * until it listens, the registry retries with backoff and pushes are not affected).
 */
export async function startRegistry(
  o: FleetOptions,
  r: RegistryLayout,
): Promise<{ pid: number; credentials: RegistryCredentials }> {
  await mkdir(join(r.dir, 'data'), { recursive: true });
  const credentials = { username: 'deployer', password: randomBytes(18).toString('base64url') };
  const htpasswd = join(r.dir, 'htpasswd');
  await writeFile(htpasswd, `${credentials.username}:${bcrypt.hashSync(credentials.password, 10)}\n`, {
    mode: 0o600,
  });
  const config = {
    version: 0.1,
    log: { level: 'warn', accesslog: { disabled: true } },
    storage: { filesystem: { rootdirectory: join(r.dir, 'data') }, delete: { enabled: true } },
    http: { addr: `0.0.0.0:${r.port}`, secret: randomBytes(16).toString('hex') },
    auth: { htpasswd: { realm: 'swarm-deployer-fleet', path: htpasswd } },
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
  const url = `http://${r.address}:${r.port}/v2/`;
  await waitFor(
    `the registry at ${url}`,
    async () => ((await fetch(url)).status === 401 ? true : undefined),
    20_000,
    () => tail(log).then((t) => `registry log (${log}):\n${t}`),
  );
  return { pid, credentials };
}

/** The X-Registry-Auth header value for the fleet's registry (the production encoder, see there). */
export function registryAuthHeader(serveraddress: string, c: RegistryCredentials): string {
  return encodeRegistryAuth(c.username, c.password, serveraddress);
}
