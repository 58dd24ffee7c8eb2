/** Stack configurations shared by the infra tests (values as `pulumi config set` would hold them). */

const PEM = (kind: string) =>
  `-----BEGIN ${kind}-----\nMIIBfake${kind.replace(/ /g, '')}\n-----END ${kind}-----\n`;

export const TLS_C2 = { ca: PEM('CERTIFICATE'), cert: PEM('CERTIFICATE'), key: PEM('PRIVATE KEY') };

export const analysis = {
  metrics: [
    {
      template: 'success-rate',
      params: { minSuccessRate: 0.95 },
      interval: '30s',
      window: '1m',
      count: 3,
    },
  ],
};

export const webPolicy = {
  name: 'web',
  service: 'web',
  repository: 'demo',
  tags: { glob: 'v*' },
  clusters: ['c1', 'c2'],
  canary: { cluster: 'c1', percent: 25 },
  analysis,
  waves: [
    { name: 'first', clusters: ['c1'], bakeSeconds: 60 },
    { name: 'rest', clusters: ['c2'] },
  ],
};

export const apiPolicy = {
  name: 'api',
  service: 'api',
  repository: 'team/api',
  tags: { semver: '>=1.0.0' },
  clusters: ['c2'],
  canary: { cluster: 'c2', percent: 10 },
  analysis,
  promotion: { mode: 'manual', approvalTimeoutSeconds: 1800 },
};

/**
 * A policy with a `spec` whose secrets and configs read a parameter and a Secrets Manager secret
 * (that secret twice) and write one config inline: the functions that pin and read them get exactly
 * those (not in baseConfig: the program test's stack has no spec).
 */
export const specPolicy = {
  name: 'shop',
  service: 'shop',
  repository: 'shop/web',
  tags: { glob: 'v*' },
  clusters: ['c1'],
  canary: { cluster: 'c1', percent: 50 },
  analysis,
  spec: {
    secrets: [
      { name: 'db-password', source: { parameter: '/shop/db-password' } },
      { name: 'api-key', source: { secretsManager: 'shop/api-key' } },
    ],
    configs: [
      {
        name: 'nginx.conf',
        source: { inline: 'server { listen 8080; }\n' },
        target: '/etc/nginx/nginx.conf',
      },
      { name: 'api-key-file', source: { secretsManager: 'shop/api-key' }, target: '/run/api-key' },
    ],
  },
};

export const clusters = [
  {
    name: 'c1',
    region: 'eu-west-1',
    target: 'i-0123456789abcdef0',
    prometheus: { tunnelPort: 9090 },
    labels: { env: 'prod' },
  },
  {
    name: 'c2',
    region: 'eu-central-1',
    target: 'mi-0123456789abcdef0',
    engine: { port: 2376 },
    prometheus: {
      url: 'https://prometheus.example.com',
      auth: { basic: { secret: { secretsManager: 'deployer/prometheus-c2' } } },
    },
  },
];

export const baseConfig = {
  'aws:region': 'eu-west-1',
  clusters,
  services: [webPolicy, apiPolicy],
  alertSubscriptions: [
    { protocol: 'email', endpoint: 'oncall@example.com' },
    { protocol: 'https', endpoint: 'https://hooks.example.com/deployer' },
    { protocol: 'sqs', endpoint: 'arn:aws:sqs:eu-west-1:123456789012:deployer-alerts' },
  ],
  api: { allowedPrincipals: ['arn:aws:iam::123456789012:role/release-managers'] },
  engineTls: { c2: TLS_C2 },
  logRetentionDays: 14,
  tags: { team: 'platform' },
};
