import { runSimulation } from '@cloud-copilot/iam-simulate';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { signedFetch } from '../../../local/apigw/client.js';
import {
  type AuthorizationVerdict,
  type HttpApi,
  type HttpApiCaller,
  type HttpApiEvent,
  mapResponse,
  type PolicyDocument,
  startHttpApi,
} from '../../../local/apigw/http-api.js';
import { compileRoutes, selectRoute } from '../../../local/apigw/routes.js';

/**
 * The HTTP API stand-in as the deployer's API uses it: one IAM-authorised route
 * `POST /deployments/{id}/{action}` behind a payload-2.0 Lambda integration. Requests are signed the
 * way awscurl or the SDK sign them (SigV4, service execute-api) and the caller policies are
 * evaluated by an IAM policy simulator, so a refusal or an admission is the policy's own verdict.
 */

const REGION = 'eu-west-1';
const ACCOUNT = '111122223333';
const API_ID = 'a1b2c3d4e5';
const ROUTE = 'POST /deployments/{id}/{action}';
const executionArn = `arn:aws:execute-api:${REGION}:${ACCOUNT}:${API_ID}`;

/** The approver role's policy, as infra/components/api.ts writes it. */
const approverPolicy: PolicyDocument = {
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Action: 'execute-api:Invoke', Resource: `${executionArn}/*/POST/deployments/*` },
  ],
};

/** A request to the API, signed for the test's region unless the test says otherwise. */
const call: typeof signedFetch = (url, c = {}) => signedFetch(url, { region: REGION, ...c });

const APPROVER = { accessKeyId: 'AKIAAPPROVER00000001', secretAccessKey: 'approver-secret' };
const READER = { accessKeyId: 'AKIAREADER0000000001', secretAccessKey: 'reader-secret' };
const CAUTIOUS = { accessKeyId: 'AKIACAUTIOUS00000001', secretAccessKey: 'cautious-secret' };
const SESSION = {
  accessKeyId: 'ASIAAPPROVERSESSION1',
  secretAccessKey: 'session-secret',
  sessionToken: 'session-token-abc',
};

const callers = new Map<string, HttpApiCaller>([
  [
    APPROVER.accessKeyId,
    {
      secretAccessKey: APPROVER.secretAccessKey,
      arn: `arn:aws:iam::${ACCOUNT}:user/alice`,
      userId: 'AIDAALICE00000000001',
      account: ACCOUNT,
      policies: [approverPolicy],
    },
  ],
  [
    READER.accessKeyId,
    {
      secretAccessKey: READER.secretAccessKey,
      arn: `arn:aws:iam::${ACCOUNT}:user/bob`,
      userId: 'AIDABOB0000000000001',
      account: ACCOUNT,
      // May call the API, but only GETs: not the deployments route.
      policies: [
        {
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: 'execute-api:Invoke', Resource: `${executionArn}/*/GET/*` }],
        },
      ],
    },
  ],
  [
    CAUTIOUS.accessKeyId,
    {
      secretAccessKey: CAUTIOUS.secretAccessKey,
      arn: `arn:aws:iam::${ACCOUNT}:user/carol`,
      userId: 'AIDACAROL00000000001',
      account: ACCOUNT,
      // Everything on the API but aborts.
      policies: [
        {
          Version: '2012-10-17',
          Statement: [
            { Effect: 'Allow', Action: 'execute-api:Invoke', Resource: `${executionArn}/*` },
            {
              Effect: 'Deny',
              Action: 'execute-api:Invoke',
              Resource: `${executionArn}/*/POST/deployments/*/abort`,
            },
          ],
        },
      ],
    },
  ],
  [
    SESSION.accessKeyId,
    {
      secretAccessKey: SESSION.secretAccessKey,
      sessionToken: SESSION.sessionToken,
      arn: `arn:aws:sts::${ACCOUNT}:assumed-role/deployer-approver/alice`,
      userId: 'AROAAPPROVERROLE0001:alice',
      account: ACCOUNT,
      policies: [approverPolicy],
    },
  ],
]);

/** The caller's identity policies through the simulator: the verdict AWS IAM would reach. */
async function authorize(
  caller: HttpApiCaller,
  request: { action: string; resource: string; context: Record<string, string> },
): Promise<AuthorizationVerdict> {
  const out = await runSimulation(
    {
      request: {
        principal: caller.arn,
        action: request.action,
        resource: { resource: request.resource, accountId: ACCOUNT },
        contextVariables: request.context,
      },
      identityPolicies: caller.policies.map((policy, i) => ({ name: `policy-${i}`, policy })),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
    },
    {},
  );
  if (out.resultType === 'error') throw new Error(`simulation error ${JSON.stringify(out.errors)}`);
  return out.overallResult as AuthorizationVerdict;
}

const SIGNATURE_MISMATCH =
  'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';

describe('HTTP API stand-in (AWS_IAM route, payload format 2.0)', () => {
  let api: HttpApi;
  const events: HttpApiEvent[] = [];
  const json = { 'content-type': 'application/json' };

  beforeAll(async () => {
    api = await startHttpApi({
      host: '127.0.0.1',
      port: 0,
      region: REGION,
      accountId: ACCOUNT,
      apiId: API_ID,
      stage: '$default',
      routes: [
        {
          routeKey: ROUTE,
          authorizationType: 'AWS_IAM',
          invoke: async (event) => {
            events.push(event);
            const by = event.requestContext.authorizer.iam.userArn;
            return {
              statusCode: 200,
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({
                deploymentId: event.pathParameters?.id,
                action: event.pathParameters?.action,
                by,
              }),
            };
          },
        },
        { routeKey: 'GET /plain', authorizationType: 'NONE', invoke: async () => ({ hello: 'world' }) },
        { routeKey: 'GET /text', authorizationType: 'NONE', invoke: async () => 'Hello from Lambda!' },
        {
          routeKey: 'GET /boom',
          authorizationType: 'NONE',
          invoke: async () => {
            throw new Error('handler crashed');
          },
        },
        {
          routeKey: 'GET /slow',
          authorizationType: 'NONE',
          timeoutMs: 50,
          invoke: (_event, { signal }) =>
            new Promise((resolve) => {
              const timer = setTimeout(() => resolve('late'), 5_000);
              signal.addEventListener('abort', () => {
                clearTimeout(timer);
                resolve('aborted');
              });
            }),
        },
        {
          routeKey: 'POST /echo',
          authorizationType: 'NONE',
          invoke: async (event) => {
            events.push(event);
            return {
              statusCode: 201,
              headers: { 'x-echo': 'yes' },
              cookies: ['a=1; Path=/', 'b=2'],
              body: Buffer.from('binary!').toString('base64'),
              isBase64Encoded: true,
            };
          },
        },
      ],
      callers: { lookup: (accessKeyId) => callers.get(accessKeyId) },
      authorize,
    });
  });

  afterAll(async () => {
    await api.close();
  });

  beforeEach(() => {
    events.length = 0;
  });

  const approveUrl = () => `${api.url}/deployments/web-1-2-3/approve`;

  it('refuses an unsigned call with 403 Forbidden and never invokes the function', async () => {
    const res = await call(approveUrl(), { body: '{}', headers: json });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.text)).toEqual({ message: 'Forbidden' });
    expect(res.headers.get('apigw-requestid')).toMatch(/^[A-Za-z0-9+/]{15}=$/);
    expect(events).toHaveLength(0);
  });

  it('refuses a call signed with the wrong secret: signature mismatch', async () => {
    const res = await call(approveUrl(), {
      body: '{}',
      headers: json,
      credentials: { accessKeyId: APPROVER.accessKeyId, secretAccessKey: 'not-the-secret' },
    });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.text)).toEqual({ message: SIGNATURE_MISMATCH });
    expect(res.headers.get('x-amzn-errortype')).toBe('InvalidSignatureException');
    expect(events).toHaveLength(0);
  });

  it('refuses a body changed after signing', async () => {
    const res = await call(approveUrl(), {
      body: '{"reason":"ok"}',
      sentBody: '{"reason":"forged"}',
      headers: json,
      credentials: APPROVER,
    });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.text)).toEqual({ message: SIGNATURE_MISMATCH });
    expect(events).toHaveLength(0);
  });

  it('refuses an access key it never issued: the security token is invalid', async () => {
    const res = await call(approveUrl(), {
      body: '{}',
      headers: json,
      credentials: { accessKeyId: 'AKIANOBODY0000000001', secretAccessKey: 'whatever' },
    });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.text)).toEqual({
      message: 'The security token included in the request is invalid.',
    });
    expect(events).toHaveLength(0);
  });

  it('refuses a signature scoped to another service or region, or expired', async () => {
    const lambda = await call(approveUrl(), {
      body: '{}',
      headers: json,
      credentials: APPROVER,
      service: 'lambda',
    });
    expect(lambda.status).toBe(403);
    expect(JSON.parse(lambda.text).message).toMatch(
      /^Credential should be scoped to correct service: 'execute-api'/,
    );
    const region = await call(approveUrl(), {
      body: '{}',
      headers: json,
      credentials: APPROVER,
      region: 'us-east-1',
    });
    expect(region.status).toBe(403);
    expect(JSON.parse(region.text).message).toMatch(/^Credential should be scoped to a valid region/);
    const old = await call(approveUrl(), {
      body: '{}',
      headers: json,
      credentials: APPROVER,
      signingDate: new Date(Date.now() - 10 * 60_000),
    });
    expect(old.status).toBe(403);
    expect(JSON.parse(old.text).message).toMatch(/^Signature expired: /);
    expect(events).toHaveLength(0);
  });

  it('refuses a signed caller whose policy does not allow execute-api:Invoke on the route, naming user and resource', async () => {
    const res = await call(approveUrl(), { body: '{}', headers: json, credentials: READER });
    expect(res.status).toBe(403);
    expect(res.headers.get('x-amzn-errortype')).toBe('AccessDeniedException');
    expect(JSON.parse(res.text)).toEqual({
      message:
        `User: arn:aws:iam::${ACCOUNT}:user/bob is not authorized to perform: execute-api:Invoke on resource: ` +
        `${executionArn}/$default/POST/deployments/web-1-2-3/approve because no identity-based policy allows the execute-api:Invoke action`,
    });
    expect(events).toHaveLength(0);
  });

  it('says "with an explicit deny" when a statement denies the route', async () => {
    const allowed = await call(approveUrl(), { body: '{}', headers: json, credentials: CAUTIOUS });
    expect(allowed.status).toBe(200);
    const res = await call(`${api.url}/deployments/web-1-2-3/abort`, {
      body: '{}',
      headers: json,
      credentials: CAUTIOUS,
    });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.text).message).toBe(
      `User: arn:aws:iam::${ACCOUNT}:user/carol is not authorized to perform: execute-api:Invoke on resource: ` +
        `${executionArn}/$default/POST/deployments/web-1-2-3/abort with an explicit deny`,
    );
  });

  it("invokes the function for a permitted caller, with the caller's ARN and the path parameters in a 2.0 event", async () => {
    const res = await call(`${approveUrl()}?dry=1&tag=a&tag=b`, {
      body: '{"reason":"looks good"}',
      headers: { ...json, 'x-custom': 'one', cookie: 'session=abc; theme=dark' },
      credentials: APPROVER,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(JSON.parse(res.text)).toEqual({
      deploymentId: 'web-1-2-3',
      action: 'approve',
      by: `arn:aws:iam::${ACCOUNT}:user/alice`,
    });
    expect(events).toHaveLength(1);
    const event = events[0] as HttpApiEvent;
    expect(event).toMatchObject({
      version: '2.0',
      routeKey: ROUTE,
      rawPath: '/deployments/web-1-2-3/approve',
      rawQueryString: 'dry=1&tag=a&tag=b',
      cookies: ['session=abc', 'theme=dark'],
      queryStringParameters: { dry: '1', tag: 'a,b' },
      pathParameters: { id: 'web-1-2-3', action: 'approve' },
      body: '{"reason":"looks good"}',
      isBase64Encoded: false,
      requestContext: {
        accountId: ACCOUNT,
        apiId: API_ID,
        domainName: `${API_ID}.execute-api.${REGION}.amazonaws.com`,
        domainPrefix: API_ID,
        http: {
          method: 'POST',
          path: '/deployments/web-1-2-3/approve',
          protocol: 'HTTP/1.1',
          sourceIp: '127.0.0.1',
        },
        routeKey: ROUTE,
        stage: '$default',
        authorizer: {
          iam: {
            accessKey: APPROVER.accessKeyId,
            accountId: ACCOUNT,
            callerId: 'AIDAALICE00000000001',
            cognitoIdentity: null,
            principalOrgId: null,
            userArn: `arn:aws:iam::${ACCOUNT}:user/alice`,
            userId: 'AIDAALICE00000000001',
          },
        },
      },
    });
    expect(event.headers['content-type']).toBe('application/json');
    expect(event.headers['x-custom']).toBe('one');
    expect(event.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIAAPPROVER00000001\//);
    expect(event.headers.cookie).toBeUndefined();
    expect(event.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(event.requestContext.requestId).toBe(res.headers.get('apigw-requestid'));
    expect(event.requestContext.time).toMatch(/^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/);
    expect(Math.abs(event.requestContext.timeEpoch - Date.now())).toBeLessThan(10_000);
  });

  it('admits temporary credentials carrying their session token, and refuses them without it', async () => {
    const res = await call(approveUrl(), { body: '{}', headers: json, credentials: SESSION });
    expect(res.status).toBe(200);
    expect(events[0]?.requestContext.authorizer.iam).toMatchObject({
      accessKey: SESSION.accessKeyId,
      userArn: `arn:aws:sts::${ACCOUNT}:assumed-role/deployer-approver/alice`,
      userId: 'AROAAPPROVERROLE0001:alice',
    });
    const withoutToken = await call(approveUrl(), {
      body: '{}',
      headers: json,
      credentials: { accessKeyId: SESSION.accessKeyId, secretAccessKey: SESSION.secretAccessKey },
    });
    expect(withoutToken.status).toBe(403);
    expect(JSON.parse(withoutToken.text)).toEqual({
      message: 'The security token included in the request is invalid.',
    });
  });

  it('answers 404 {"message":"Not Found"} for a path or method no route takes, signed or not', async () => {
    for (const [url, method] of [
      [`${api.url}/deployments/web-1-2-3`, 'POST'],
      [`${api.url}/deployments/web-1-2-3/approve/now`, 'POST'],
      [`${api.url}/nothing`, 'GET'],
      [approveUrl(), 'GET'],
    ] as const) {
      const unsigned = await call(url, { method });
      expect(unsigned.status).toBe(404);
      expect(JSON.parse(unsigned.text)).toEqual({ message: 'Not Found' });
      const signed = await call(url, { method, credentials: APPROVER });
      expect(signed.status).toBe(404);
    }
    expect(events).toHaveLength(0);
  });

  it('maps an answer without statusCode to a 200 JSON response', async () => {
    const object = await call(`${api.url}/plain`, { method: 'GET' });
    expect(object.status).toBe(200);
    expect(object.headers.get('content-type')).toBe('application/json');
    expect(JSON.parse(object.text)).toEqual({ hello: 'world' });
    const text = await call(`${api.url}/text`, { method: 'GET' });
    expect(text.status).toBe(200);
    expect(text.text).toBe('Hello from Lambda!');
  });

  it('maps a structured answer: status, headers, cookies and a base64 body; passes a binary request body as base64', async () => {
    const payload = Buffer.from([0, 1, 2, 250, 255]);
    const res = await call(`${api.url}/echo`, {
      body: payload,
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-echo')).toBe('yes');
    expect(res.headers.getSetCookie()).toEqual(['a=1; Path=/', 'b=2']);
    expect(res.text).toBe('binary!');
    expect(events[0]).toMatchObject({ isBase64Encoded: true, body: payload.toString('base64') });
    expect(events[0]?.requestContext.authorizer).toBeUndefined();
  });

  it('answers 500 when the function throws and 503 when it outlasts the integration timeout', async () => {
    const boom = await call(`${api.url}/boom`, { method: 'GET' });
    expect(boom.status).toBe(500);
    expect(JSON.parse(boom.text)).toEqual({ message: 'Internal Server Error' });
    const slow = await call(`${api.url}/slow`, { method: 'GET' });
    expect(slow.status).toBe(503);
    expect(JSON.parse(slow.text)).toEqual({ message: 'Service Unavailable' });
  });
});

describe('HTTP API stand-in on a named stage', () => {
  it('serves under /<stage>, keeps the stage in rawPath and names it in the execute-api ARN', async () => {
    const seen: HttpApiEvent[] = [];
    const resources: string[] = [];
    const api = await startHttpApi({
      region: REGION,
      accountId: ACCOUNT,
      apiId: API_ID,
      stage: 'prod',
      routes: [
        {
          routeKey: ROUTE,
          authorizationType: 'AWS_IAM',
          invoke: async (event) => {
            seen.push(event);
            return { ok: true };
          },
        },
      ],
      callers: { lookup: (accessKeyId) => callers.get(accessKeyId) },
      authorize: (caller, request) => {
        resources.push(request.resource);
        return authorize(caller, request);
      },
    });
    try {
      expect(api.url).toBe(`${api.endpoint}/prod`);
      const res = await call(`${api.url}/deployments/d-1/reject`, { body: '', credentials: APPROVER });
      expect(res.status).toBe(200);
      expect(resources).toEqual([`${executionArn}/prod/POST/deployments/d-1/reject`]);
      expect(seen[0]).toMatchObject({
        rawPath: '/prod/deployments/d-1/reject',
        pathParameters: { id: 'd-1', action: 'reject' },
        requestContext: { stage: 'prod', http: { path: '/prod/deployments/d-1/reject' } },
      });
      expect((await call(`${api.endpoint}/deployments/d-1/reject`, { credentials: APPROVER })).status).toBe(
        404,
      );
    } finally {
      await api.close();
    }
  });
});

describe('route selection', () => {
  const routes = compileRoutes(
    [
      'GET /pets/dog/1',
      'GET /pets/dog/{id}',
      'GET /pets/{type}/{id}',
      'GET /pets/{proxy+}',
      'ANY /{proxy+}',
      'ANY /things/{id}',
      'DELETE /things/{id}',
      '$default',
    ].map((routeKey) => ({ routeKey, target: routeKey })),
  );
  const pick = (method: string, path: string) => selectRoute(routes, method, path);

  it('prefers literals to variables to greedy variables, then the exact method to ANY, then $default', () => {
    expect(pick('GET', '/pets/dog/1')?.route.routeKey).toBe('GET /pets/dog/1');
    expect(pick('GET', '/pets/dog/2')).toMatchObject({
      route: { routeKey: 'GET /pets/dog/{id}' },
      pathParameters: { id: '2' },
    });
    expect(pick('GET', '/pets/cat/2')).toMatchObject({
      route: { routeKey: 'GET /pets/{type}/{id}' },
      pathParameters: { type: 'cat', id: '2' },
    });
    expect(pick('GET', '/pets/cat/2/toys')).toMatchObject({
      route: { routeKey: 'GET /pets/{proxy+}' },
      pathParameters: { proxy: 'cat/2/toys' },
    });
    expect(pick('POST', '/pets/cat')).toMatchObject({
      route: { routeKey: 'ANY /{proxy+}' },
      pathParameters: { proxy: 'pets/cat' },
    });
    expect(pick('DELETE', '/things/7')?.route.routeKey).toBe('DELETE /things/{id}');
    expect(pick('PUT', '/things/7')?.route.routeKey).toBe('ANY /things/{id}');
    expect(pick('GET', '/')).toMatchObject({ route: { routeKey: '$default' }, pathParameters: {} });
  });

  it('decodes path parameters and returns nothing when no route (and no $default) matches', () => {
    expect(pick('GET', '/pets/dog/a%20b')?.pathParameters).toEqual({ id: 'a b' });
    const only = compileRoutes([{ routeKey: ROUTE, target: ROUTE }]);
    expect(selectRoute(only, 'POST', '/deployments/x')).toBeUndefined();
    expect(selectRoute(only, 'POST', '/deployments/x/approve/')).toBeUndefined();
    expect(selectRoute(only, 'POST', '/deployments//approve')).toBeUndefined();
  });

  it('rejects malformed and duplicate route keys', () => {
    expect(() => compileRoutes([{ routeKey: 'FETCH /x', target: 1 }])).toThrow(/METHOD \/path/);
    expect(() => compileRoutes([{ routeKey: 'GET /{proxy+}/x', target: 1 }])).toThrow(/greedy/);
    expect(() =>
      compileRoutes([
        { routeKey: 'GET /x', target: 1 },
        { routeKey: 'GET /x', target: 2 },
      ]),
    ).toThrow(/twice/);
  });
});

describe('payload format 2.0 response mapping', () => {
  it('follows the developer guide: inferred 200 JSON, structured responses, malformed → undefined (500)', () => {
    expect(mapResponse({ message: 'hi' })).toMatchObject({
      status: 200,
      headers: { 'content-type': 'application/json' },
    });
    expect(mapResponse({ message: 'hi' })?.body.toString()).toBe('{"message":"hi"}');
    expect(mapResponse('plain')?.body.toString()).toBe('plain');
    expect(mapResponse(undefined)?.body.toString()).toBe('null');
    expect(mapResponse({ statusCode: 204 })).toMatchObject({ status: 204, headers: {} });
    expect(mapResponse({ statusCode: 'oops' })).toBeUndefined();
    expect(mapResponse({ statusCode: 200, body: { not: 'a string' } })).toBeUndefined();
  });
});
