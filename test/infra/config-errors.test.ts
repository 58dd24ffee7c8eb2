/**
 * A stack configuration the handlers' schemas reject fails the program before any resource exists,
 * with the key and the field named and no value echoed; and parseStackConfig's other refusals.
 */
import { describe, expect, it } from 'vitest';
import { Functions } from '../../infra/components/functions.js';
import { ComponentArgsError } from '../../infra/components/util.js';
import { parseStackConfig, type RawStackConfig, StackConfigError } from '../../infra/config.js';
import { baseConfig, clusters, TLS_C2, webPolicy } from './fixtures.js';
import { installMocks } from './mocks.js';

const SECRET = 'sup3r-s3cret-value';

// The program's stack: web's canary cluster is not one of its clusters (servicePolicySchema's refinement).
const recording = installMocks(
  {
    ...baseConfig,
    services: [{ ...webPolicy, canary: { cluster: 'c9', percent: 25 } }],
  },
  ['engineTls'],
);

/** The raw config as the program reads it: every value JSON text. */
const raw = (over: Record<string, unknown>): RawStackConfig => {
  const all: Record<string, unknown> = { ...baseConfig, ...over };
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(all)) {
    if (v === undefined) continue;
    out[k === 'aws:region' ? 'region' : k] = typeof v === 'string' ? v : JSON.stringify(v);
  }
  return out as RawStackConfig;
};
const parse = (over: Record<string, unknown>) => () =>
  parseStackConfig(raw(over), { project: 'swarm-deployer', stack: 'test' });

describe('the program', () => {
  it('fails with the field named, before creating any resource', async () => {
    const error = await import('../../infra/index.js').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StackConfigError);
    expect((error as Error).message).toContain(
      'stack config swarm-deployer:services[0]: field canary.cluster:',
    );
    expect(recording.resources).toEqual([]);
  });
});

describe('the functions component', () => {
  it('refuses to package functions whose bundles are missing, and says to build them', () => {
    const make = () =>
      new Functions('f', {
        namePrefix: 'deployer-test',
        distDir: '/nonexistent/dist/functions',
        logRetentionDays: 14,
        prefix: '/deployer',
        tableName: 't',
        topicArn: 'arn:aws:sns:eu-west-1:123456789012:t',
        stateMachineArn: 'arn:aws:states:eu-west-1:123456789012:stateMachine:s',
        permissions: {} as never,
      });
    expect(make).toThrow(ComponentArgsError);
    expect(make).toThrow(/no bundle for acquire-lock, analyze, .* run `npm run build`/);
    expect(recording.resources).toEqual([]);
  });
});

describe('parseStackConfig', () => {
  it('accepts the full example', () => {
    const cfg = parse({})();
    expect(cfg.repositories).toEqual(['demo', 'team/api']);
    expect(cfg.clusters.find((c) => c.name === 'c2')?.engine.tlsParameter).toBe('/deployer/tls/c2');
    expect(cfg.sessionDocuments).toEqual(['AWS-StartPortForwardingSession']);
    expect(cfg.secretRefs).toEqual(['deployer/prometheus-c2']);
  });

  it('names the cluster field clusterSchema rejects', () => {
    const bad = [{ ...clusters[0], target: 'host-1' }, clusters[1]];
    expect(parse({ clusters: bad })).toThrow(
      /stack config swarm-deployer:clusters\[0\]: field target: an SSM managed instance id/,
    );
  });

  it('names the service policy field servicePolicySchema rejects, each of several', () => {
    const error = (() => {
      try {
        parse({
          services: [
            { ...webPolicy, canary: { cluster: 'c1', percent: 0 } },
            { ...webPolicy, name: 'Web!' },
          ],
        })();
      } catch (e) {
        return e as Error;
      }
    })();
    expect(error).toBeInstanceOf(StackConfigError);
    expect(error?.message).toContain('swarm-deployer:services[0]: field canary.percent:');
    expect(error?.message).toContain('swarm-deployer:services[1]: field name:');
  });

  it('refuses a policy naming a cluster that is not configured', () => {
    expect(parse({ services: [{ ...webPolicy, clusters: ['c1', 'c2', 'c3'], waves: undefined }] })).toThrow(
      /services\[0\]: field clusters\.2: no cluster "c3"/,
    );
  });

  it('requires the region and at least one service', () => {
    expect(parse({ 'aws:region': undefined })).toThrow(/aws:region: required/);
    expect(parse({ services: [] })).toThrow(
      /swarm-deployer:services: field \(root\): at least one service policy/,
    );
  });

  it('never echoes TLS material or an unparsable value', () => {
    for (const over of [
      { engineTls: { c2: { ...TLS_C2, key: SECRET } } },
      { engineTls: `{"c2": {"key": "${SECRET}"` },
      { engineTls: { c2: { ...TLS_C2, extra: SECRET } } },
    ]) {
      let message = '';
      try {
        parse(over)();
      } catch (e) {
        expect(e).toBeInstanceOf(StackConfigError);
        message = (e as Error).message;
      }
      expect(message).toMatch(/swarm-deployer:engineTls/);
      expect(message).not.toContain(SECRET);
    }
    expect(parse({ engineTls: { c2: { ...TLS_C2, key: SECRET } } })).toThrow(
      /engineTls: field c2\.key: a PEM private key/,
    );
  });

  it('refuses TLS material for an unknown cluster, or a tlsParameter that is not the one created', () => {
    expect(parse({ engineTls: { c7: TLS_C2 } })).toThrow(/engineTls: field c7: no such cluster/);
    const withOther = [
      clusters[0],
      { ...clusters[1], engine: { port: 2376, tlsParameter: '/elsewhere/tls' } },
    ];
    expect(parse({ clusters: withOther })).toThrow(
      /clusters\[1\]: field engine.tlsParameter: engineTls.c2 creates/,
    );
  });

  it('refuses bad alerts, API principals, retention and demo fleet settings, naming each', () => {
    expect(parse({ alertSubscriptions: [{ protocol: 'sms', endpoint: '+15555550100' }] })).toThrow(
      /alertSubscriptions: field 0.protocol/,
    );
    expect(parse({ api: { allowedPrincipals: ['*'] } })).toThrow(
      /api: field allowedPrincipals.0: an IAM role/,
    );
    expect(parse({ logRetentionDays: 10 })).toThrow(
      /logRetentionDays: field \(root\): one of CloudWatch Logs/,
    );
    expect(parse({ demoFleet: { clusters: ['c1'] } })).toThrow(
      /demoFleet: field clusters.0: another cluster has this name/,
    );
    expect(parse({ demoFleet: { clusters: ['d1'], instanceType: 't3.small' } })).toThrow(
      /demoFleet: field instanceType: a Graviton/,
    );
  });
});
