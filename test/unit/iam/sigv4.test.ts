import { SignatureV4 } from '@smithy/signature-v4';
import { describe, expect, it } from 'vitest';
import { NodeSha256 as Sha256 } from '../../../functions/lib/prometheus/sigv4.js';
import { type SigV4Request, verifySigV4 } from '../../../local/iam/sigv4.js';

const CREDENTIALS = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
};
const lookup = (id: string) => (id === CREDENTIALS.accessKeyId ? CREDENTIALS.secretAccessKey : undefined);
const NOW = new Date('2015-08-30T12:36:00Z');

/** Signs a request as the SDK does, and gives it back as the server sees it. */
async function signed(
  options: {
    method?: string;
    path?: string;
    query?: Record<string, string>;
    body?: string;
    headers?: Record<string, string>;
    service?: string;
    region?: string;
    at?: Date;
    credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  } = {},
): Promise<SigV4Request> {
  const body = options.body ?? '{"Name":"/deployer/x"}';
  const request = {
    method: options.method ?? 'POST',
    protocol: 'http:',
    hostname: '127.0.0.1',
    port: 4566,
    path: options.path ?? '/',
    query: options.query ?? {},
    headers: {
      host: '127.0.0.1:4566',
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': 'AmazonSSM.GetParameter',
      ...options.headers,
    },
    body,
  };
  const signer = new SignatureV4({
    service: options.service ?? 'ssm',
    region: options.region ?? 'us-east-1',
    credentials: options.credentials ?? CREDENTIALS,
    sha256: Sha256,
  });
  const out = await signer.sign(request, { signingDate: options.at ?? NOW });
  const search = new URLSearchParams(out.query as Record<string, string>).toString().replace(/\+/g, '%20');
  return {
    method: out.method,
    path: `${out.path}${search === '' ? '' : `?${search}`}`,
    headers: Object.fromEntries(Object.entries(out.headers).map(([k, v]) => [k.toLowerCase(), v])),
    body: Buffer.from(body),
  };
}

describe('verifySigV4', () => {
  it("accepts the AWS test suite's get-vanilla request", () => {
    const result = verifySigV4(
      {
        method: 'GET',
        path: '/',
        headers: {
          host: 'example.amazonaws.com',
          'x-amz-date': '20150830T123600Z',
          authorization:
            'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
        },
        body: Buffer.alloc(0),
      },
      lookup,
      NOW,
    );
    expect(result).toEqual({ ok: true, accessKeyId: 'AKIDEXAMPLE', service: 'service', region: 'us-east-1' });
  });

  it('accepts what the SDK signer signs, with its scope, path and query', async () => {
    const request = await signed({
      method: 'GET',
      path: '/prod/items/a%20b',
      query: { b: '2', a: 'x y', c: "it's*" },
    });
    expect(verifySigV4(request, lookup, NOW, { region: 'us-east-1', service: 'ssm' })).toEqual({
      ok: true,
      accessKeyId: 'AKIDEXAMPLE',
      service: 'ssm',
      region: 'us-east-1',
    });
  });

  it('refuses a tampered body, header or path', async () => {
    const request = await signed();
    const tampered = { ...request, body: Buffer.from('{"Name":"/deployer/y"}') };
    expect(verifySigV4(tampered, lookup, NOW)).toMatchObject({ ok: false, code: 'SignatureDoesNotMatch' });
    const retargeted = {
      ...request,
      headers: { ...request.headers, 'x-amz-target': 'AmazonSSM.PutParameter' },
    };
    expect(verifySigV4(retargeted, lookup, NOW)).toMatchObject({ ok: false, code: 'SignatureDoesNotMatch' });
    expect(verifySigV4({ ...request, path: '/other' }, lookup, NOW)).toMatchObject({
      ok: false,
      code: 'SignatureDoesNotMatch',
    });
  });

  it('refuses a wrong secret and an unknown access key', async () => {
    const wrong = await signed({ credentials: { ...CREDENTIALS, secretAccessKey: 'not-the-secret' } });
    expect(verifySigV4(wrong, lookup, NOW)).toMatchObject({
      ok: false,
      code: 'SignatureDoesNotMatch',
      message: expect.stringMatching(/^The request signature we calculated does not match/),
    });
    const unknown = await signed({ credentials: { ...CREDENTIALS, accessKeyId: 'AKIDUNKNOWN' } });
    expect(verifySigV4(unknown, lookup, NOW)).toEqual({
      ok: false,
      code: 'UnrecognizedClient',
      message: 'The security token included in the request is invalid.',
    });
  });

  it('refuses an unsigned request and a malformed Authorization header', async () => {
    const request = await signed();
    const { authorization: _, ...unsigned } = request.headers;
    expect(verifySigV4({ ...request, headers: unsigned }, lookup, NOW)).toEqual({
      ok: false,
      code: 'MissingAuthenticationToken',
      message: 'Missing Authentication Token',
    });
    const incomplete = {
      ...request,
      headers: {
        ...request.headers,
        authorization: 'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/ssm/aws4_request',
      },
    };
    expect(verifySigV4(incomplete, lookup, NOW)).toMatchObject({
      ok: false,
      code: 'IncompleteSignature',
      message: expect.stringContaining("Authorization header requires 'SignedHeaders' parameter."),
    });
  });

  it('refuses a credential scope whose date, region or service is wrong', async () => {
    const request = await signed();
    const authorization = String(request.headers.authorization);
    const otherDay = {
      ...request,
      headers: { ...request.headers, authorization: authorization.replace('/20150830/', '/20150829/') },
    };
    expect(verifySigV4(otherDay, lookup, NOW)).toMatchObject({
      ok: false,
      code: 'SignatureDoesNotMatch',
      message: expect.stringContaining("'20150829' != '20150830'"),
    });
    expect(
      verifySigV4(await signed({ region: 'eu-west-1' }), lookup, NOW, { region: 'us-east-1' }),
    ).toMatchObject({ ok: false, code: 'SignatureDoesNotMatch' });
    expect(verifySigV4(await signed({ service: 'sns' }), lookup, NOW, { service: 'ssm' })).toMatchObject({
      ok: false,
      code: 'SignatureDoesNotMatch',
    });
  });

  it('refuses a request signed more than five minutes away from now', async () => {
    const request = await signed({ at: new Date(NOW.getTime() - 6 * 60_000) });
    expect(verifySigV4(request, lookup, NOW)).toMatchObject({
      ok: false,
      code: 'RequestExpired',
      message: expect.stringMatching(
        /^Signature expired: 20150830T123000Z is now earlier than 20150830T123100Z/,
      ),
    });
    expect(verifySigV4(request, lookup, new Date(NOW.getTime() - 2 * 60_000))).toMatchObject({ ok: true });
    const future = await signed({ at: new Date(NOW.getTime() + 6 * 60_000) });
    expect(verifySigV4(future, lookup, NOW)).toMatchObject({ ok: false, code: 'RequestExpired' });
  });

  it('requires the session token of temporary credentials', async () => {
    const temporary = { ...CREDENTIALS, sessionToken: 'token-1' };
    const withToken = (id: string) => (id === CREDENTIALS.accessKeyId ? temporary : undefined);
    expect(verifySigV4(await signed({ credentials: temporary }), withToken, NOW)).toMatchObject({ ok: true });
    expect(verifySigV4(await signed(), withToken, NOW)).toMatchObject({
      ok: false,
      code: 'UnrecognizedClient',
    });
  });
});
