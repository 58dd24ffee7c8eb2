import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import {
  EcrRegistryAuth,
  ecrRegistryOf,
  registryOf,
  StaticRegistryAuth,
} from '../../../functions/lib/swarm/registry-auth.js';

const ECR_IMAGE = `123456789012.dkr.ecr.eu-west-1.amazonaws.com/web@sha256:${'a'.repeat(64)}`;
const HOME = { account: '123456789012', region: 'eu-west-1' };
const decode = (header: string) => JSON.parse(Buffer.from(header, 'base64url').toString('utf8'));
const ecrMock = mockClient(ECRClient);

/** An ECR client factory that builds real (mocked) clients and remembers which region each is for. */
function clients() {
  const built = new Map<string, ECRClient>();
  const ecrFor = (region: string) => {
    const client = new ECRClient({ region });
    built.set(region, client);
    return client;
  };
  return { built, ecrFor };
}

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
    const auth = new EcrRegistryAuth(clients().ecrFor, 'eu-west-1', () => now);
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
    const auth = new EcrRegistryAuth(clients().ecrFor, 'eu-west-1');
    expect(await auth.headerFor('10.231.0.2:5000/demo:v1')).toBeUndefined();
    expect(await auth.headerFor('nginx:1')).toBeUndefined();
    expect(await auth.registryHost(HOME)).toBe('123456789012.dkr.ecr.eu-west-1.amazonaws.com');
  });

  it('fails with RegistryAuthError naming the call, never the token', async () => {
    ecrMock.on(GetAuthorizationTokenCommand).rejects(
      Object.assign(new Error('User is not authorized'), {
        name: 'AccessDeniedException',
        $metadata: { httpStatusCode: 400 },
      }),
    );
    const attempt = new EcrRegistryAuth(clients().ecrFor, 'eu-west-1').headerFor(ECR_IMAGE);
    await expect(attempt).rejects.toMatchObject({
      name: 'RegistryAuthError',
      retryable: false,
      message: 'ECR GetAuthorizationToken for 123456789012 in eu-west-1 failed: AccessDeniedException',
    });
    ecrMock.reset();
    ecrMock
      .on(GetAuthorizationTokenCommand)
      .resolves({ authorizationData: [{ authorizationToken: Buffer.from('garbage').toString('base64') }] });
    await expect(new EcrRegistryAuth(clients().ecrFor, 'eu-west-1').headerFor(ECR_IMAGE)).rejects.toThrow(
      /returned no usable token or endpoint$/,
    );
  });

  it('reads the account and region of an ECR registry host', () => {
    expect(ecrRegistryOf('111122223333.dkr.ecr.eu-west-1.amazonaws.com')).toEqual({
      account: '111122223333',
      region: 'eu-west-1',
    });
    expect(ecrRegistryOf('111122223333.dkr.ecr-fips.us-gov-west-1.amazonaws.com')).toEqual({
      account: '111122223333',
      region: 'us-gov-west-1',
    });
    expect(ecrRegistryOf('10.231.0.2:5000')).toBeUndefined();
    expect(ecrRegistryOf('evil.example.com/111122223333.dkr.ecr.eu-west-1.amazonaws.com')).toBeUndefined();
  });

  it('asks the registry of the image (its account, with a client of its region) for credentials', async () => {
    // prepare: each registry answers with its own endpoint and password
    ecrMock.on(GetAuthorizationTokenCommand).callsFake((input: { registryIds?: string[] }) => {
      const account = input.registryIds?.[0] ?? '123456789012';
      const region = account === '111122223333' ? 'us-east-2' : 'eu-west-1';
      return {
        authorizationData: [
          {
            authorizationToken: Buffer.from(`AWS:token-of-${account}`).toString('base64'),
            proxyEndpoint: `https://${account}.dkr.ecr.${region}.amazonaws.com`,
          },
        ],
      };
    });
    const { built, ecrFor } = clients();
    const auth = new EcrRegistryAuth(ecrFor, 'eu-west-1');
    const other = `111122223333.dkr.ecr.us-east-2.amazonaws.com/web@sha256:${'b'.repeat(64)}`;

    // act
    const otherHeader = (await auth.headerFor(other)) as string;
    const homeHeader = (await auth.headerFor(ECR_IMAGE)) as string;
    await auth.headerFor(other);

    // assess: one token per registry, each from its own region's client, with its registry id
    expect(decode(otherHeader)).toEqual({
      username: 'AWS',
      password: 'token-of-111122223333',
      serveraddress: '111122223333.dkr.ecr.us-east-2.amazonaws.com',
    });
    expect(decode(homeHeader).password).toBe('token-of-123456789012');
    const calls = ecrMock.commandCalls(GetAuthorizationTokenCommand);
    expect(calls.map((c) => c.args[0].input)).toEqual([
      { registryIds: ['111122223333'] },
      { registryIds: ['123456789012'] },
    ]);
    expect(calls[0]?.thisValue).toBe(built.get('us-east-2'));
    expect(calls[1]?.thisValue).toBe(built.get('eu-west-1'));
    expect([...built.keys()]).toEqual(['us-east-2', 'eu-west-1']);
  });

  it('gives the local registry the credentials its stand-in answered, fetched for a plan or by default', async () => {
    // prepare: the local runtime's stand-in answers every registry with the local registry
    ecrMock.on(GetAuthorizationTokenCommand).resolves({
      authorizationData: [
        {
          authorizationToken: Buffer.from('deployer:pw').toString('base64'),
          proxyEndpoint: 'http://10.231.0.2:5000',
        },
      ],
    });
    const local = `10.231.0.2:5000/demo@sha256:${'c'.repeat(64)}`;
    const planned = new EcrRegistryAuth(clients().ecrFor, 'us-east-1');
    const fresh = new EcrRegistryAuth(clients().ecrFor, 'us-east-1');

    // act
    const host = await planned.registryHost({ account: '000000000000', region: 'us-east-1' });
    const fromPlan = (await planned.headerFor(local)) as string;
    const byDefault = (await fresh.headerFor(local)) as string;

    // assess: the planned registry's token serves its host; a fresh container asks without registry ids
    expect(host).toBe('10.231.0.2:5000');
    expect(decode(fromPlan)).toEqual({
      username: 'deployer',
      password: 'pw',
      serveraddress: '10.231.0.2:5000',
    });
    expect(byDefault).toBe(fromPlan);
    expect(ecrMock.commandCalls(GetAuthorizationTokenCommand).map((c) => c.args[0].input)).toEqual([
      { registryIds: ['000000000000'] },
      {},
    ]);
  });
});
