/**
 * A stack configuration the handlers' schemas reject fails the program before any resource exists,
 * with the key and the field named and no value echoed; and parseStackConfig's other refusals.
 */
import { describe, expect, it } from 'vitest';
import { Functions } from '../../infra/components/functions.js';
import { hourlyRate, Trigger } from '../../infra/components/trigger.js';
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

describe('the trigger component', () => {
  it('refuses a refresh interval at or over the 12-hour ECR token lifetime, before creating anything', () => {
    for (const hours of [0, 12, 1.5]) {
      const make = () =>
        new Trigger('t', {
          repositories: ['demo'],
          stateMachineArn: 'arn:aws:states:eu-west-1:123456789012:stateMachine:s',
          startDeployment: {} as never,
          reapExecution: {} as never,
          refreshRegistryAuth: {} as never,
          registryAuthRefreshHours: hours,
        });
      expect(make, String(hours)).toThrow(ComponentArgsError);
      expect(make, String(hours)).toThrow(/Trigger: registryAuthRefreshHours: whole hours from 1 to 11/);
    }
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

  it('refreshes registry credentials every 6 hours by default, and takes 1 to 11 whole hours', () => {
    expect(parse({})().registryAuthRefreshHours).toBe(6);
    expect(parse({ registryAuthRefreshHours: 1 })().registryAuthRefreshHours).toBe(1);
    expect(parse({ registryAuthRefreshHours: 11 })().registryAuthRefreshHours).toBe(11);
    // `pulumi config set registryAuthRefreshHours 8` holds the text "8".
    expect(parse({ registryAuthRefreshHours: '8' })().registryAuthRefreshHours).toBe(8);
    for (const bad of [0, 12, 24, 2.5, -1, 'six']) {
      expect(parse({ registryAuthRefreshHours: bad }), String(bad)).toThrow(StackConfigError);
      expect(parse({ registryAuthRefreshHours: bad }), String(bad)).toThrow(
        /stack config swarm-deployer:registryAuthRefreshHours: field \(root\): /,
      );
    }
    // The message says why the bound is 11: ECR's token lifetime.
    expect(parse({ registryAuthRefreshHours: 12 })).toThrow(
      /registryAuthRefreshHours: field \(root\): whole hours from 1 to 11 \(an ECR token lasts 12 hours/,
    );
  });

  it('writes the schedule as EventBridge accepts it: a singular unit for 1, plural above', () => {
    expect(hourlyRate(1)).toBe('rate(1 hour)');
    expect(hourlyRate(6)).toBe('rate(6 hours)');
    expect(() => hourlyRate(0)).toThrow(RangeError);
    expect(() => hourlyRate(1.5)).toThrow(RangeError);
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
