import { readFile, stat } from 'node:fs/promises';
import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import type Docker from 'dockerode';
import { beforeAll, describe, expect, it } from 'vitest';
import { type EcrOptions, registryTokenPassword } from '../../../local/aws/ecr.js';
import { startAwsStandIn } from '../../../local/aws/server.js';
import type { FleetStatus } from '../../../local/fleet/fleet.js';
import { dockerFor, fleet, pushDemo, uniqueTag } from '../support/fleet.js';

const EXPIRED = 'Your authorization token has expired. Reauthenticate and try again.';

/** Pulls an image as the engine does for a task, failing with the engine's message. */
async function pull(docker: Docker, image: string, auth: { username: string; password: string }) {
  const stream = await docker.pull(image, { authconfig: auth });
  await new Promise<void>((resolve, reject) =>
    docker.modem.followProgress(stream, (err, events: Array<{ error?: string }>) => {
      const failed = events?.find((e) => e.error);
      if (err || failed) reject(err ?? new Error(failed?.error));
      else resolve();
    }),
  );
}

/** The username and password of a GetAuthorizationToken answer, as `docker login` splits them. */
function split(token: string | undefined) {
  const decoded = Buffer.from(token ?? '', 'base64').toString('utf8');
  const sep = decoded.indexOf(':');
  return { username: decoded.slice(0, sep), password: decoded.slice(sep + 1) };
}

describe('the registry gate', () => {
  let f: FleetStatus;
  let key: Buffer;
  let docker: Docker;

  /** A token from the ECR stand-in minting with the fleet's key, lasting `seconds`. */
  async function ecrToken(seconds: number) {
    const options: EcrOptions = {
      address: f.registry.address,
      username: f.registry.username,
      password: f.registry.password,
      tokenKey: key,
      tokenLifetimeSeconds: seconds,
    };
    const standIn = await startAwsStandIn({ registry: options });
    const ecr = new ECRClient({
      endpoint: standIn.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'AKIAGATETEST', secretAccessKey: 'not-checked' },
      maxAttempts: 1,
    });
    try {
      const [data] = (await ecr.send(new GetAuthorizationTokenCommand({}))).authorizationData ?? [];
      return { ...split(data?.authorizationToken), expiresAt: data?.expiresAt ?? new Date(0) };
    } finally {
      ecr.destroy();
      await standIn.stop();
    }
  }

  const basic = (username: string, password: string) =>
    `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;

  beforeAll(async () => {
    f = await fleet();
    key = await readFile(f.registry.tokenKeyFile);
    docker = dockerFor(f.clusters[0] as FleetStatus['clusters'][number]);
  });

  it('keeps the key secret: a file of its own, mode 0600', async () => {
    // Assess
    expect((await stat(f.registry.tokenKeyFile)).mode & 0o777).toBe(0o600);
    expect(key.length).toBeGreaterThanOrEqual(32);
  });

  it('lets the fleet credentials push, and an engine pull, as before', async () => {
    // Act
    const image = await pushDemo(f, { tag: uniqueTag('gate') });
    // Assess
    await expect(
      pull(docker, image.reference, { username: f.registry.username, password: f.registry.password }),
    ).resolves.toBeUndefined();
  });

  it('answers an anonymous /v2/ with the registry 401 and its Basic challenge', async () => {
    // Act
    const res = await fetch(`${f.registry.url}/v2/`);
    // Assess
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Basic realm="swarm-deployer-fleet"');
    expect(await res.json()).toEqual({
      errors: [{ code: 'UNAUTHORIZED', message: 'authentication required', detail: null }],
    });
  });

  it('lets an engine pull with a fresh ECR token, and refuses the token once it expired, as ECR does', async () => {
    // Prepare: tags no engine has pulled, and a token that lasts 2 s
    const fresh = await pushDemo(f, { tag: uniqueTag('fresh') });
    const later = await pushDemo(f, { tag: uniqueTag('later') });
    const long = await ecrToken(600);
    const short = await ecrToken(2);
    expect(long.username).toBe('AWS');
    expect(short.username).toBe('AWS');

    // Act 1: a fresh token
    await pull(docker, fresh.reference, long);
    // Assess 1: pulled (the engine has the image)
    expect((await docker.getImage(fresh.reference).inspect()).Id).toMatch(/^sha256:/);

    // Act 2: the short token, after it expired
    const wait = short.expiresAt.getTime() - Date.now() + 500;
    await new Promise((r) => setTimeout(r, Math.max(wait, 0)));
    const refused = pull(docker, later.reference, short);
    // Assess 2: the engine's error is ECR's (docker shows the error code lowercased: "denied: …")
    await expect(refused).rejects.toThrow(`denied: ${EXPIRED}`);
    // … and on the wire: 403 with a registry error body
    const res = await fetch(`${f.registry.url}/v2/demo/manifests/${later.tag}`, {
      headers: { authorization: basic(short.username, short.password) },
    });
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({ errors: [{ code: 'DENIED', message: EXPIRED }] });
  });

  it('refuses a token whose MAC does not match with 401, whatever its expiry', async () => {
    // Prepare: a token for an hour from now, signed with another key
    const expiresAt = Math.ceil(Date.now() / 1000) + 3600;
    const forged = registryTokenPassword(Buffer.from('not the fleet key'), expiresAt);
    const image = await pushDemo(f, { tag: uniqueTag('forged') });
    // Act
    const res = await fetch(`${f.registry.url}/v2/demo/manifests/${image.tag}`, {
      headers: { authorization: basic('AWS', forged) },
    });
    const refused = pull(docker, image.reference, { username: 'AWS', password: forged });
    // Assess
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Basic realm="swarm-deployer-fleet"');
    await expect(refused).rejects.toThrow(/unauthorized|authentication required/);
    // The right MAC for that expiry is accepted: only the signature was wrong.
    const genuine = await fetch(`${f.registry.url}/v2/demo/manifests/${image.tag}`, {
      headers: {
        authorization: basic('AWS', registryTokenPassword(key, expiresAt)),
        accept: 'application/vnd.docker.distribution.manifest.v2+json',
      },
    });
    expect(genuine.status).toBe(200);
    expect(genuine.headers.get('docker-content-digest')).toBe(image.digest);
  });
});
