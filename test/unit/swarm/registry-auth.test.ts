import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import {
  EcrRegistryAuth,
  registryOf,
  StaticRegistryAuth,
} from '../../../functions/lib/swarm/registry-auth.js';

const ECR_IMAGE = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/web@sha256:' + 'a'.repeat(64);
const decode = (header: string) => JSON.parse(Buffer.from(header, 'base64url').toString('utf8'));
const ecrMock = mockClient(ECRClient);

describe('registry auth', () => {
  afterEach(() => ecrMock.reset());

  it('finds the registry host of an image reference', () => {
    expect(registryOf('10.231.0.2:5000/demo@sha256:abc')).toBe('10.231.0.2:5000');
    expect(registryOf(ECR_IMAGE)).toBe('123456789012.dkr.ecr.eu-west-1.amazonaws.com');
    expect(registryOf('library/nginx:1')).toBeUndefined();
    expect(registryOf('nginx')).toBeUndefined();
  });

  it('encodes padded base64url JSON, as the engine decodes it', async () => {
    const header = (await new StaticRegistryAuth({
      'reg:5000': { username: 'u', password: 'p?>' },
    }).headerFor('reg:5000/x:1')) as string;
    expect(header.length % 4).toBe(0); // padded
    expect(header).not.toMatch(/[+/]/);
    expect(decode(header)).toEqual({ username: 'u', password: 'p?>', serveraddress: 'reg:5000' });
    expect(await new StaticRegistryAuth({}).headerFor('reg:5000/x:1')).toBeUndefined();
  });

  it('turns an ECR token into credentials for that registry and caches it until shortly before expiry', async () => {
    let now = Date.parse('2026-11-21T00:00:00Z');
    ecrMock.on(GetAuthorizationTokenCommand).resolves({
      authorizationData: [
        {
          authorizationToken: Buffer.from('AWS:s3cret-token').toString('base64'),
          expiresAt: new Date(now + 12 * 3600_000),
          proxyEndpoint: 'https://123456789012.dkr.ecr.eu-west-1.amazonaws.com',
        },
      ],
    });
    const auth = new EcrRegistryAuth(new ECRClient({ region: 'eu-west-1' }), () => now);
    const header = (await auth.headerFor(ECR_IMAGE)) as string;
    expect(decode(header)).toEqual({
      username: 'AWS',
      password: 's3cret-token',
      serveraddress: '123456789012.dkr.ecr.eu-west-1.amazonaws.com',
    });
    await auth.headerFor(ECR_IMAGE);
    expect(ecrMock.commandCalls(GetAuthorizationTokenCommand)).toHaveLength(1);
    now += 12 * 3600_000 - 4 * 60_000; // within five minutes of expiry
    await auth.headerFor(ECR_IMAGE);
    expect(ecrMock.commandCalls(GetAuthorizationTokenCommand)).toHaveLength(2);
  });

  it('gives no credentials to images of other registries, and none to images without a registry', async () => {
    ecrMock.on(GetAuthorizationTokenCommand).resolves({
      authorizationData: [
        {
          authorizationToken: Buffer.from('AWS:t').toString('base64'),
          proxyEndpoint: 'https://123456789012.dkr.ecr.eu-west-1.amazonaws.com',
        },
      ],
    });
    const auth = new EcrRegistryAuth(new ECRClient({ region: 'eu-west-1' }));
    expect(await auth.headerFor('10.231.0.2:5000/demo:v1')).toBeUndefined();
    expect(await auth.headerFor('nginx:1')).toBeUndefined();
    expect(await auth.registryHost()).toBe('123456789012.dkr.ecr.eu-west-1.amazonaws.com');
  });

  it('fails with RegistryAuthError naming the call, never the token', async () => {
    ecrMock.on(GetAuthorizationTokenCommand).rejects(
      Object.assign(new Error('User is not authorized'), {
        name: 'AccessDeniedException',
        $metadata: { httpStatusCode: 400 },
      }),
    );
    const attempt = new EcrRegistryAuth(new ECRClient({ region: 'eu-west-1' })).headerFor(ECR_IMAGE);
    await expect(attempt).rejects.toMatchObject({
      name: 'RegistryAuthError',
      retryable: false,
      message: 'ECR GetAuthorizationToken failed: AccessDeniedException',
    });
    ecrMock.reset();
    ecrMock
      .on(GetAuthorizationTokenCommand)
      .resolves({ authorizationData: [{ authorizationToken: Buffer.from('garbage').toString('base64') }] });
    await expect(
      new EcrRegistryAuth(new ECRClient({ region: 'eu-west-1' })).headerFor(ECR_IMAGE),
    ).rejects.toThrow(/returned no usable token or endpoint$/);
  });
});
