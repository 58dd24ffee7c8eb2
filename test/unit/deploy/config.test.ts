import { GetParametersByPathCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../functions/lib/config/store.js';

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
      [{ ...cluster, target: 'web-1' }],
      [service],
      /^parameter \/deployer\/clusters\/c1: field target: an SSM managed instance id: i-… or mi-…$/,
    ],
    [['{not json'], [service], /^parameter \/deployer\/clusters\/x0: not valid JSON/],
    [
      [cluster],
      [{ ...service, canary: { cluster: 'c9', percent: 0 } }],
      /^parameter \/deployer\/services\/web: field canary\.percent: .*; field canary\.cluster: "c9" is not one of the policy's clusters$/,
    ],
    [
      [cluster],
      [{ ...service, clusters: ['c1', 'c2'] }],
      /^parameter \/deployer\/services\/web: field clusters\.1: no cluster "c2" \(no parameter \/deployer\/clusters\/c2\)$/,
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
  ])('names the parameter and the field of a bad value (%#)', async (clusters, services, message) => {
    params(clusters, services);
    await expect(load()).rejects.toMatchObject({
      name: 'ConfigError',
      message: expect.stringMatching(message),
    });
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
