import { GetParametersByPathCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { clusterSchema } from '../../../functions/lib/config/schema.js';
import { invalidPolicyFor, loadConfig } from '../../../functions/lib/config/store.js';

const ssmMock = mockClient(SSMClient);
const cluster = {
  name: 'c1',
  region: 'eu-west-1',
  target: 'i-0123456789abcdef0',
  prometheus: { url: 'http://prom.internal:9090' },
};
const service = {
  name: 'web',
  service: 'web',
  repository: 'demo',
  tags: { glob: 'v*' },
  clusters: ['c1'],
  canary: { cluster: 'c1', percent: 20 },
  analysis: { metrics: [{ template: 'success-rate' }] },
};
const cluster2 = { ...cluster, name: 'c2', target: 'i-0123456789abcdef1' };
/** A second service on another cluster: it must keep loading whatever is wrong with `web`. */
const other = {
  ...service,
  name: 'api',
  repository: 'api',
  clusters: ['c2'],
  canary: { cluster: 'c2', percent: 20 },
};
function params(clusters: unknown[], services: unknown[]) {
  ssmMock.on(GetParametersByPathCommand, { Path: '/deployer/clusters' }).resolves({
    Parameters: clusters.map((c, i) => ({
      Name: `/deployer/clusters/${(c as { name?: string }).name ?? `x${i}`}`,
      Value: typeof c === 'string' ? c : JSON.stringify(c),
    })),
  });
  ssmMock.on(GetParametersByPathCommand, { Path: '/deployer/services' }).resolves({
    Parameters: services.map((s) => ({
      Name: `/deployer/services/${(s as { name: string }).name}`,
      Value: JSON.stringify(s),
    })),
  });
}
/** Service parameters with raw values (not necessarily JSON). */
function rawServices(entries: Array<[string, string]>) {
  ssmMock.on(GetParametersByPathCommand, { Path: '/deployer/services' }).resolves({
    Parameters: entries.map(([name, value]) => ({ Name: `/deployer/services/${name}`, Value: value })),
  });
}
const load = () => loadConfig(new SSMClient({ region: 'eu-west-1' }), '/deployer');

describe('configuration from Parameter Store', () => {
  afterEach(() => ssmMock.reset());

  it('loads and validates clusters and policies, with defaults', async () => {
    params([cluster], [service]);
    const config = await load();
    expect(config.clusters.get('c1')).toMatchObject({
      engine: { port: 2375, document: 'AWS-StartPortForwardingSession' },
      minEngineVersion: '20.10.0',
    });
    expect(config.policies[0]).toMatchObject({
      concurrency: 'queue',
      promotion: { mode: 'auto' },
      update: { parallelism: 1, monitorSeconds: 5 },
    });
  });

  it.each([
    [
      [cluster],
      [{ ...service, canary: { cluster: 'c9', percent: 0 } }],
      /^parameter \/deployer\/services\/web: field canary\.percent: .*; field canary\.cluster: "c9" is not one of the policy's clusters$/,
    ],
    [
      [cluster],
      [{ ...service, clusters: ['c1', 'c3'] }],
      /^parameter \/deployer\/services\/web: field clusters\.1: no cluster "c3" \(no parameter \/deployer\/clusters\/c3\)$/,
    ],
    [
      [cluster],
      [
        {
          ...service,
          analysis: {
            metrics: [
              {
                name: 'err',
                query: 'rate(x{service="{{servce}}"}[1m])',
                successCondition: 'result < 1',
                interval: '30s',
                count: 3,
                onNoData: 'fail',
              },
            ],
          },
        },
      ],
      /^parameter \/deployer\/services\/web: metric "err", field analysis\.metrics\.0\.query, offset \d+: malformed query template: unknown template variable "servce"/,
    ],
    [
      [cluster],
      [{ ...service, waves: [{ name: 'w1', clusters: [] }] }],
      /field waves\.0\.clusters: .*; field waves: clusters in no wave: c1/,
    ],
  ])(
    'names the parameter and the field of a bad policy, and blocks only it (%#)',
    async (clusters, services, message) => {
      params([...clusters, cluster2], [...services, other]);
      const config = await load();
      expect(config.policies.map((p) => p.name)).toEqual(['api']);
      expect(config.invalid).toEqual([
        {
          parameter: '/deployer/services/web',
          policy: 'web',
          repository: 'demo',
          message: expect.stringMatching(message),
        },
      ]);
    },
  );

  it.each([
    [
      [{ ...cluster, target: 'web-1' }, cluster2],
      /^parameter \/deployer\/clusters\/c1: field target: an SSM managed instance id: i-… or mi-…$/,
      '/deployer/clusters/c1',
    ],
    [
      ['{not json', cluster2],
      /^parameter \/deployer\/clusters\/x0: not valid JSON \(at position 1\)$/,
      '/deployer/clusters/x0',
    ],
  ])('blocks only the policies that name a bad cluster (%#)', async (clusters, message, parameter) => {
    const onBroken = { ...service, clusters: [...service.clusters, 'x0'] };
    params(clusters, [clusters[0] === '{not json' ? onBroken : service, other]);
    const config = await load();
    expect(config.invalidClusters).toEqual([
      { parameter, cluster: parameter.split('/').pop(), message: expect.stringMatching(message) },
    ]);
    expect([...config.clusters.keys()]).toEqual(['c2']);
    expect(config.policies.map((p) => p.name)).toEqual(['api']);
    expect(config.invalid).toHaveLength(1);
    expect(config.invalid[0]?.parameter).toBe('/deployer/services/web');
    expect(config.invalid[0]?.message).toContain(`field clusters.`);
    expect(config.invalid[0]?.message).toContain(`cluster parameter ${parameter} is invalid`);
  });

  it('keeps working policies when one is malformed, and never echoes a value', async () => {
    const SECRET = 'sk_live_51HxQ_DO_NOT_LEAK_9f8e7d';
    params([cluster, cluster2], []);
    rawServices([
      ['web', JSON.stringify({ ...service, canary: { cluster: 'c1', percent: SECRET } })],
      ['api', JSON.stringify(other)],
      ['tagged', JSON.stringify({ ...service, name: 'tagged', tags: { glob: 'x', password: SECRET } })],
      ['conc', JSON.stringify({ ...service, name: 'conc', concurrency: SECRET })],
      [
        'waves',
        JSON.stringify({
          ...service,
          name: 'waves',
          waves: [{ name: 'w', clusters: ['c1'], bakeSeconds: SECRET }],
        }),
      ],
      ['broken', `{"name": "broken", "repository": ${SECRET}}`],
      ['nojson', `token=${SECRET}`],
    ]);
    const config = await load();
    expect(config.policies.map((p) => p.name)).toEqual(['api']);
    const byPolicy = Object.fromEntries(config.invalid.map((i) => [i.policy, i]));
    expect(Object.keys(byPolicy).sort()).toEqual(['broken', 'conc', 'nojson', 'tagged', 'waves', 'web']);
    expect(byPolicy.web).toMatchObject({ parameter: '/deployer/services/web', repository: 'demo' });
    expect(byPolicy.web?.message).toMatch(/^parameter \/deployer\/services\/web: field canary\.percent: /);
    expect(byPolicy.tagged?.message).toMatch(/field tags: Unrecognized key: "password"/);
    expect(byPolicy.conc?.message).toMatch(/^parameter \/deployer\/services\/conc: field concurrency: /);
    expect(byPolicy.waves?.message).toMatch(/field waves\.0\.bakeSeconds: /);
    expect(byPolicy.broken?.message).toMatch(
      /^parameter \/deployer\/services\/broken: not valid JSON( \(at position \d+\))?$/,
    );
    expect(byPolicy.broken?.repository).toBeUndefined();
    for (const entry of config.invalid) expect(JSON.stringify(entry)).not.toContain(SECRET);
  });

  it('tells which invalid policies a push may have been meant for', async () => {
    params([cluster, cluster2], []);
    rawServices([
      ['web', JSON.stringify({ ...service, tags: 'v*' })],
      ['api', JSON.stringify(other)],
      ['shop', JSON.stringify({ ...other, name: 'shop', repository: 'shop', tags: 3 })],
      ['mangled', '{'],
    ]);
    const config = await load();
    expect(config.policies.map((p) => p.name)).toEqual(['api']);
    expect(invalidPolicyFor(config, 'demo').map((i) => i.policy)).toEqual(['web', 'mangled']);
    expect(invalidPolicyFor(config, 'shop').map((i) => i.policy)).toEqual(['shop', 'mangled']);
    expect(invalidPolicyFor(config, 'api').map((i) => i.policy)).toEqual(['mangled']);
    expect(invalidPolicyFor({ clusters: new Map(), policies: [] }, 'demo')).toEqual([]);
  });

  it('reports Parameter Store being unavailable as retryable', async () => {
    ssmMock
      .on(GetParametersByPathCommand)
      .rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));
    await expect(load()).rejects.toMatchObject({
      name: 'ConfigUnavailableError',
      retryable: true,
      message: 'reading parameters under /deployer/clusters failed: ThrottlingException',
    });
  });
});

describe('Prometheus credentials in a cluster parameter', () => {
  const SECRET = 'hunter2-PROM-SECRET-0xBEEF';
  const parse = (prometheus: unknown) => clusterSchema.safeParse({ ...cluster, prometheus });
  afterEach(() => ssmMock.reset());

  it.each([
    [
      {
        url: 'https://prom.example/prometheus',
        auth: { basic: { secret: { parameter: '/deployer/secrets/prom' } } },
      },
    ],
    [
      {
        url: 'https://prom.example',
        auth: {
          bearer: {
            secret: { secretsManager: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:p-AbC' },
          },
        },
      },
    ],
    [{ tunnelPort: 9090, auth: { bearer: { secret: { secretsManager: 'prom-token' } } } }],
    [
      {
        url: 'https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1',
        auth: { sigv4: { region: 'eu-west-1' } },
      },
    ],
  ])('accepts references to secrets and SigV4 (%#)', (prometheus) => {
    const parsed = parse(prometheus);
    expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
  });

  it('defaults the SigV4 signing name to aps', () => {
    expect(parse({ url: 'https://prom.example', auth: { sigv4: {} } }).data?.prometheus).toEqual({
      url: 'https://prom.example',
      auth: { sigv4: { service: 'aps' } },
    });
  });

  it.each([
    [
      { url: `https://deployer:${SECRET}@prom.example` },
      /field prometheus\.url: must not carry credentials \(user:password@\)/,
    ],
    [
      { url: `https://prom.example/?api_key=${SECRET}` },
      /field prometheus\.url: must not carry credentials in its query string/,
    ],
    [
      { url: `https://prom.example/?access_token=${SECRET}` },
      /field prometheus\.url: must not carry credentials in its query string/,
    ],
    [
      { url: `https://prom.example/#token=${SECRET}` },
      /field prometheus\.url: must not carry credentials in its query string/,
    ],
    [
      { url: `https://prom.example/?tenant=${SECRET}` },
      /field prometheus\.url: must not carry a query string or fragment/,
    ],
    [{ url: `ftp://prom.example/${SECRET}` }, /field prometheus\.url: Invalid URL/],
    [
      { url: 'https://prom.example', auth: { basic: { secret: { value: SECRET } } } },
      /field prometheus\.auth\.basic\.secret/,
    ],
    [
      { url: 'https://prom.example', auth: { basic: { username: 'u', password: SECRET } } },
      /field prometheus\.auth/,
    ],
    [{ url: 'https://prom.example', auth: { bearer: { token: SECRET } } }, /field prometheus\.auth\.bearer/],
    [
      { url: 'https://prom.example', auth: { bearer: { secret: { parameter: SECRET } } } },
      /field prometheus\.auth\.bearer\.secret\.parameter: a parameter path/,
    ],
    [{ tunnelPort: 9090, auth: { digest: SECRET } }, /field prometheus\.auth/],
  ])(
    'rejects credentials in the URL or inline, naming the field and never the value (%#)',
    async (prometheus, message) => {
      params([{ ...cluster, prometheus }], [service]);
      const config = await load();
      expect(config.clusters.size).toBe(0);
      expect(config.invalidClusters).toHaveLength(1);
      const [bad] = config.invalidClusters;
      expect(bad?.message).toMatch(/^parameter \/deployer\/clusters\/c1: /);
      expect(bad?.message).toMatch(message);
      expect(bad?.message).not.toContain(SECRET);
      expect(config.invalid[0]?.message).toContain('cluster parameter /deployer/clusters/c1 is invalid');
      expect(JSON.stringify(config.invalid)).not.toContain(SECRET);
    },
  );
});
