import { describe, expect, it } from 'vitest';
import { servicePolicySchema } from '../../../functions/lib/config/schema.js';
import { bytesOf, serviceSpecSchema } from '../../../functions/lib/config/service-spec.js';
import { parseParameter } from '../../../functions/lib/config/store.js';

const PARAMETER = '/deployer/services/web';
const MiB = 1024 * 1024;

/** The spec as the deployer reads it from a policy parameter: its message on a refusal. */
function refusal(spec: unknown): string {
  try {
    parseParameter(serviceSpecSchema, PARAMETER, JSON.stringify(spec));
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error(`accepted: ${JSON.stringify(spec)}`);
}

const secret = (name: string, over: object = {}) => ({
  name,
  source: { parameter: `/app/web/${name}` },
  ...over,
});

describe('service spec (policy spec)', () => {
  it('accepts a full spec and fills in the defaults', () => {
    // prepare
    const spec = {
      env: { LOG_LEVEL: 'info', _PRIVATE: '1', DB_HOST: 'db.internal' },
      labels: { team: 'web', 'com.example.tier': 'front' },
      resources: { limits: { cpus: 1.5, memory: '512m' }, reservations: { cpus: 0.25, memory: 64 * MiB } },
      placement: { constraints: ['node.role==worker'] },
      healthcheck: { test: ['CMD-SHELL', 'curl -f http://localhost/ || exit 1'] },
      networks: [{ name: 'backend', encrypted: true, aliases: ['api'] }, { name: 'front' }],
      secrets: [
        secret('db-password'),
        { name: 'api-key', source: { secretsManager: 'prod/api-key' }, mode: 0o400 },
      ],
      configs: [
        { name: 'app.yaml', source: { inline: 'listen: 8080\n' }, target: '/etc/app/app.yaml' },
        { name: 'ca.pem', source: { parameter: '/app/web/ca' }, uid: '1000', gid: '1000' },
      ],
    };
    // act
    const parsed = parseParameter(serviceSpecSchema, PARAMETER, JSON.stringify(spec));
    // assess
    expect(parsed).toEqual({
      env: spec.env,
      labels: spec.labels,
      resources: spec.resources,
      placement: spec.placement,
      healthcheck: {
        test: ['CMD-SHELL', 'curl -f http://localhost/ || exit 1'],
        intervalSeconds: 30,
        timeoutSeconds: 30,
        retries: 3,
        startPeriodSeconds: 0,
      },
      networks: [
        { name: 'backend', driver: 'overlay', encrypted: true, attachable: false, aliases: ['api'] },
        { name: 'front', driver: 'overlay', encrypted: false, attachable: false },
      ],
      secrets: [
        { ...secret('db-password'), uid: '0', gid: '0', mode: 0o444 },
        { name: 'api-key', source: { secretsManager: 'prod/api-key' }, uid: '0', gid: '0', mode: 0o400 },
      ],
      configs: [
        {
          name: 'app.yaml',
          source: { inline: 'listen: 8080\n' },
          target: '/etc/app/app.yaml',
          uid: '0',
          gid: '0',
          mode: 0o444,
        },
        { name: 'ca.pem', source: { parameter: '/app/web/ca' }, uid: '1000', gid: '1000', mode: 0o444 },
      ],
    });
    expect(serviceSpecSchema.parse({ healthcheck: { disable: true } })).toEqual({
      healthcheck: { disable: true },
    });
    expect(serviceSpecSchema.parse({})).toEqual({});
  });

  it('refuses an environment variable name the shell could not use, naming each', () => {
    // prepare
    const spec = { env: { GOOD: '1', '1ST': 'x', 'A-B': 'y' } };
    // act
    const message = refusal(spec);
    // assess
    expect(message).toBe(
      `parameter ${PARAMETER}: field env.1ST: not a valid variable name; field env.A-B: not a valid variable name`,
    );
  });

  it("refuses a deployer.* label: those are the deployer's own", () => {
    // act
    const message = refusal({ labels: { team: 'web', 'deployer.role': 'primary' } });
    // assess
    expect(message).toBe(
      `parameter ${PARAMETER}: field labels.deployer.role: deployer.* labels are the deployer's own`,
    );
  });

  it('refuses a secret name listed twice, and a secret target listed twice', () => {
    // prepare
    const sameName = { secrets: [secret('db'), secret('db', { target: 'other' })] };
    const sameTarget = { secrets: [secret('db'), secret('db2', { target: 'db' })] };
    // act
    const names = refusal(sameName);
    const targets = refusal(sameTarget);
    // assess
    expect(names).toBe(`parameter ${PARAMETER}: field secrets.1: "db" is listed twice`);
    expect(targets).toBe(`parameter ${PARAMETER}: field secrets.1: "target db" is listed twice`);
    expect(
      refusal({
        configs: [
          { name: 'c', source: { inline: 'a' } },
          { name: 'c', source: { inline: 'b' } },
        ],
      }),
    ).toBe(`parameter ${PARAMETER}: field configs.1: "c" is listed twice`);
    expect(refusal({ networks: [{ name: 'n' }, { name: 'n', encrypted: true }] })).toBe(
      `parameter ${PARAMETER}: field networks.1: "n" is listed twice`,
    );
  });

  it('refuses a health check test that does not start with CMD or CMD-SHELL', () => {
    // act
    const plain = refusal({ healthcheck: { test: ['curl', '-f', 'http://localhost/'] } });
    const none = refusal({ healthcheck: { test: ['NONE', 'x'] } });
    // assess
    const expected = `parameter ${PARAMETER}: field healthcheck.test.0: must be "CMD" or "CMD-SHELL" (as in a Dockerfile's HEALTHCHECK)`;
    expect(plain).toBe(expected);
    expect(none).toBe(expected);
    expect(refusal({ healthcheck: { test: ['CMD'] } })).toMatch(
      /^parameter \S+: field healthcheck\.test: Too small/,
    );
  });

  it.each([
    ['limits', '5m'],
    ['limits', 6 * MiB - 1],
    ['reservations', 'lots'],
    ['reservations', '1t'],
    ['limits', -1],
  ])('refuses a %s memory of %j: unparsable or below 6 MiB', (kind, memory) => {
    // act
    const message = refusal({ resources: { [kind]: { memory } } });
    // assess
    expect(message).toBe(
      `parameter ${PARAMETER}: field resources.${kind}.memory: a size of at least 6 MiB (Docker's minimum), in bytes or as "128m", "512MiB", "1g"`,
    );
  });

  it('accepts 6 MiB exactly, as bytes or with a unit', () => {
    // act
    const parsed = serviceSpecSchema.parse({
      resources: { limits: { memory: '6m' }, reservations: { memory: 6 * MiB } },
    });
    // assess
    expect(parsed.resources).toEqual({ limits: { memory: '6m' }, reservations: { memory: 6 * MiB } });
  });

  it('takes a config inline or from a parameter, not both; a secret never inline', () => {
    // prepare
    const inline = { name: 'c', source: { inline: 'x' } };
    const parameter = { name: 'c', source: { parameter: '/app/c' } };
    // act
    const both = refusal({ configs: [{ name: 'c', source: { inline: 'x', parameter: '/app/c' } }] });
    const inlineSecret = refusal({ secrets: [{ name: 's', source: { inline: 'x' } }] });
    // assess
    expect(serviceSpecSchema.parse({ configs: [inline] }).configs?.[0]?.source).toEqual({ inline: 'x' });
    expect(serviceSpecSchema.parse({ configs: [parameter] }).configs?.[0]?.source).toEqual({
      parameter: '/app/c',
    });
    expect(both).toMatch(/^parameter \S+: field configs\.0\.source: Unrecognized key: "(inline|parameter)"/);
    expect(inlineSecret).toMatch(/^parameter \S+: field secrets\.0\.source\b/);
    expect(inlineSecret).toContain('Unrecognized key: "inline"');
  });

  it("names the field under the policy's spec", () => {
    // prepare
    const policy = {
      name: 'web',
      service: 'web',
      repository: 'web',
      tags: { glob: 'v*' },
      clusters: ['c1'],
      canary: { cluster: 'c1', percent: 20 },
      analysis: { metrics: [{ template: 'restarts' }] },
      spec: { env: { 'NOT-OK': '1' } },
    };
    // act
    const act = () => parseParameter(servicePolicySchema, PARAMETER, JSON.stringify(policy));
    // assess
    expect(act).toThrow(`parameter ${PARAMETER}: field spec.env.NOT-OK: not a valid variable name`);
  });
});

describe('bytesOf', () => {
  it.each([
    [134217728, 134217728],
    [0, 0],
    ['128m', 128 * MiB],
    ['128MiB', 128 * MiB],
    ['128mb', 128 * MiB],
    [' 64 MB ', 64 * MiB],
    ['512k', 512 * 1024],
    ['1g', 1024 * MiB],
    ['1.5g', 1536 * MiB],
    ['6m', 6 * MiB],
    ['4096', 4096],
    ['4096b', 4096],
  ])('reads %j as %d bytes (binary units)', (value, bytes) => {
    // act
    const result = bytesOf(value);
    // assess
    expect(result).toBe(bytes);
  });

  it.each([-1, 1.5, Number.MAX_SAFE_INTEGER + 1, '', 'm', '1t', '1e3', 'lots', '-5m'])(
    'reads %j as nothing',
    (value) => {
      // act
      const result = bytesOf(value);
      // assess
      expect(result).toBeUndefined();
    },
  );
});
