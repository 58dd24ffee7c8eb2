import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfigText } from '../../../cli/config-validate.js';
import { runCli } from '../../../cli/program.js';

/**
 * `deployer config validate` with the handlers' schemas: the twin's own configuration is valid;
 * broken clusters, policies and whole configurations are reported field by field, exit 1.
 */

interface Configuration {
  clusters: Array<Record<string, unknown>>;
  services: Policy[];
}

type Policy = Record<string, unknown> & {
  canary: { cluster: string; percent: number };
  clusters: string[];
  analysis: { metrics: Array<Record<string, unknown>> };
};

let dir: string;
let good: Configuration;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'deployer-config-'));
  good = JSON.parse(
    await readFile(new URL('../../../local/runtime/config.json', import.meta.url), 'utf8'),
  ) as Configuration;
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const copy = (): Configuration => structuredClone(good);

async function validate(
  name: string,
  content: unknown,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const file = join(dir, name);
  await writeFile(file, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(['config', 'validate', file], {
    stdout: { write: (s: string) => out.push(s) },
    stderr: { write: (s: string) => err.push(s) },
    env: {},
  });
  return { code, stdout: out.join(''), stderr: err.join('').replaceAll(file, '<file>') };
}

describe('config validate', () => {
  it("the twin's configuration ({clusters, services}) is valid, and so is it as {clusters, policies}", async () => {
    const r = await validate('config.json', good);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/config\.json: valid \(3 clusters, 1 policy\)\n$/);
    const { services, ...rest } = copy();
    expect((await validate('policies.json', { ...rest, policies: services })).code).toBe(0);
  });

  it('a single cluster and a single policy are valid on their own', async () => {
    const cluster = await validate('cluster.json', good.clusters[0]);
    expect(cluster.code).toBe(0);
    expect(cluster.stdout).toContain('valid (cluster c1)');
    const policy = await validate('policy.json', good.services[0]);
    expect(policy.code).toBe(0);
    expect(policy.stdout).toContain('valid (policy web)');
  });

  it('a bad cluster: each field named, exit 1', async () => {
    const cluster = { ...good.clusters[0], target: 'x-1', prometheus: { url: 'http://user:pw@prom:9090' } };
    const r = await validate('bad-cluster.json', cluster);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      [
        '<file>: invalid cluster',
        '  field target: an SSM managed instance id: i-… or mi-…',
        '  field prometheus.url: must not carry credentials (user:password@); reference a secret in prometheus.auth',
        '',
      ].join('\n'),
    );
    expect(r.stderr).not.toContain('pw');
  });

  it('a bad policy: the field path, the analysis metric, the cross-field checks', async () => {
    const policy = structuredClone(good.services[0]) as Policy;
    policy.canary = { cluster: 'c9', percent: 150 };
    (policy.analysis.metrics[0] as Record<string, unknown>).template = 'nope';
    const r = await validate('bad-policy.json', policy);
    expect(r.code).toBe(1);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines[0]).toBe('<file>: invalid policy');
    expect(lines).toContain('  field canary.percent: Too big: expected number to be <=100');
    expect(lines).toContainEqual(
      expect.stringMatching(/^ {2}metric "[^"]+", field analysis\.metrics\.0\.template: /),
    );
  });

  it('a whole configuration: where each problem is, and policies naming missing or broken clusters', async () => {
    const config = copy();
    (config.clusters[1] as Record<string, unknown>).region = '';
    (config.clusters[2] as Record<string, unknown>).name = 'c1';
    config.services[0]?.clusters.push('c9');
    (config.services[0] as Record<string, unknown>).pollSeconds = 0;
    const r = await validate('bad-config.json', config);
    expect(r.code).toBe(1);
    expect(r.stderr.trimEnd().split('\n')).toEqual([
      '<file>: invalid configuration',
      '  clusters.1 (c2): field region: Too small: expected string to have >=1 characters',
      '  clusters.2 (c1): field name: "c1" is also clusters.0',
      '  services.0 (web): field pollSeconds: Too small: expected number to be >=1',
      '  services.0 (web): field waves: clusters in no wave: c9',
      '  services.0 (web): field clusters.1: cluster "c2" is invalid (see clusters.1)',
      '  services.0 (web): field clusters.2: no cluster "c3" in this configuration',
      '  services.0 (web): field clusters.3: no cluster "c9" in this configuration',
    ]);
  });

  it('what cannot be a configuration: not JSON, not an object, unknown shape, unknown keys', async () => {
    const notJson = await validate('broken.json', '{"name": "c1",');
    expect(notJson.code).toBe(1);
    expect(notJson.stderr).toContain('not valid JSON');
    expect((await validate('array.json', [1])).stderr).toContain('field (root): expected an object');
    expect((await validate('odd.json', { hello: 1 })).stderr).toContain('cannot tell what this is');
    expect((await validate('extra.json', { ...copy(), extra: true })).stderr).toContain(
      'field extra: unknown key',
    );
  });

  it('YAML is a usage error (exit 2); a missing file exit 1', async () => {
    const yaml = await validate('config.yaml', 'clusters: []');
    expect(yaml.code).toBe(2);
    expect(yaml.stderr).toContain('YAML is not supported');
    const out: string[] = [];
    const code = await runCli(['config', 'validate', join(dir, 'absent.json')], {
      stdout: { write: () => true },
      stderr: { write: (s: string) => out.push(s) },
      env: {},
    });
    expect(code).toBe(1);
    expect(out.join('')).toContain('absent.json: ENOENT');
  });

  it('validateConfigText is the same check without a file', () => {
    expect(validateConfigText(JSON.stringify(good))).toEqual({
      kind: 'configuration',
      summary: '3 clusters, 1 policy',
      errors: [],
    });
  });
});
