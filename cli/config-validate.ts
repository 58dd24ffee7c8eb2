/**
 * `deployer config validate <file>`: checks a cluster configuration, a service policy, or a whole
 * configuration `{clusters: […], policies: […]}` (`services` is accepted for `policies`, as in
 * local/runtime/config.json) with the schemas and the error formatting the handlers use
 * (functions/lib/config/schema.ts, parseParameter of functions/lib/config/store.ts), plus what
 * loadConfig checks across parameters: every cluster a policy names exists and is valid.
 */
import { readFile } from 'node:fs/promises';
import { ConfigError } from '../functions/lib/config/errors.js';
import { clusterSchema, servicePolicySchema } from '../functions/lib/config/schema.js';
import { parseParameter } from '../functions/lib/config/store.js';
import { CliError, UsageError } from './io.js';

export type ConfigKind = 'cluster' | 'policy' | 'configuration';

export interface Validation {
  kind?: ConfigKind;
  /** What was valid: "cluster c1", "policy web", "3 clusters, 1 policy". */
  summary?: string;
  /** One line per problem, each naming where: "clusters.0 (c1): field prometheus.url: Invalid URL". */
  errors: string[];
}

const LABEL = '\u0000';
const POLICY_KEYS = ['service', 'repository', 'tags', 'canary', 'analysis', 'waves', 'promotion'];
const CLUSTER_KEYS = ['target', 'region', 'prometheus', 'engine'];

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * One entry against its schema, through the store's parseParameter: the problems as the handlers
 * word them ("field canary.percent: Too big: …", "metric "x", field analysis.…: …").
 */
function check(schema: typeof clusterSchema | typeof servicePolicySchema, value: unknown): string[] {
  try {
    parseParameter(schema, LABEL, JSON.stringify(value));
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const text = err.message.startsWith(`parameter ${LABEL}: `)
      ? err.message.slice(`parameter ${LABEL}: `.length)
      : err.message;
    return text.split(/; (?=(?:field |metric ))/);
  }
}

/** `clusters.0 (c1)`: where an entry is in the file, and its name when it has one. */
function where(list: string, index: number, entry: unknown): string {
  const name = isObject(entry) && typeof entry.name === 'string' ? ` (${entry.name})` : '';
  return `${list}.${index}${name}`;
}

function kindOf(json: unknown): ConfigKind | string {
  if (!isObject(json))
    return 'field (root): expected an object (a cluster, a service policy, or {clusters, policies})';
  if ('policies' in json || 'services' in json) return 'configuration';
  if (Array.isArray(json.clusters) && json.clusters.some(isObject)) return 'configuration';
  if (POLICY_KEYS.some((k) => k in json)) return 'policy';
  if (CLUSTER_KEYS.some((k) => k in json)) return 'cluster';
  return 'field (root): cannot tell what this is: a cluster has region, target and prometheus; a service policy has service, repository, tags, clusters, canary and analysis; a whole configuration is {clusters: […], policies: […]}';
}

const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;

function validateConfiguration(json: Json): Validation {
  const errors: string[] = [];
  const policiesKey = 'policies' in json ? 'policies' : 'services';
  if ('policies' in json && 'services' in json)
    errors.push('field services: give the policies once, as policies (services is its older name)');
  for (const key of Object.keys(json))
    if (!['clusters', 'policies', 'services'].includes(key))
      errors.push(`field ${key}: unknown key (a configuration has clusters and policies)`);

  const clusters = json.clusters ?? [];
  const policies = json[policiesKey] ?? [];
  if (!Array.isArray(clusters)) errors.push('field clusters: expected an array of clusters');
  if (!Array.isArray(policies)) errors.push(`field ${policiesKey}: expected an array of service policies`);
  const clusterList = Array.isArray(clusters) ? clusters : [];
  const policyList = Array.isArray(policies) ? policies : [];

  /** Cluster name → its index, and whether it is valid. */
  const byName = new Map<string, { index: number; valid: boolean }>();
  clusterList.forEach((c, i) => {
    const problems = check(clusterSchema, c);
    for (const p of problems) errors.push(`${where('clusters', i, c)}: ${p}`);
    const name = isObject(c) && typeof c.name === 'string' ? c.name : undefined;
    if (name === undefined) return;
    const first = byName.get(name);
    if (first)
      errors.push(`${where('clusters', i, c)}: field name: "${name}" is also clusters.${first.index}`);
    else byName.set(name, { index: i, valid: problems.length === 0 });
  });

  const policyNames = new Map<string, number>();
  policyList.forEach((p, i) => {
    const at = where(policiesKey, i, p);
    const problems = check(servicePolicySchema, p);
    for (const problem of problems) errors.push(`${at}: ${problem}`);
    if (!isObject(p)) return;
    if (typeof p.name === 'string') {
      const first = policyNames.get(p.name);
      if (first !== undefined) errors.push(`${at}: field name: "${p.name}" is also ${policiesKey}.${first}`);
      else policyNames.set(p.name, i);
    }
    // As loadConfig does: each cluster the policy names must be a valid cluster of the configuration.
    if (!Array.isArray(p.clusters) || !('clusters' in json)) return;
    p.clusters.forEach((name: unknown, j: number) => {
      if (typeof name !== 'string') return;
      const cluster = byName.get(name);
      if (!cluster) errors.push(`${at}: field clusters.${j}: no cluster "${name}" in this configuration`);
      else if (!cluster.valid)
        errors.push(
          `${at}: field clusters.${j}: cluster "${name}" is invalid (see clusters.${cluster.index})`,
        );
    });
  });
  return {
    kind: 'configuration',
    summary: `${plural(clusterList.length, 'cluster', 'clusters')}, ${plural(policyList.length, 'policy', 'policies')}`,
    errors,
  };
}

/** Validates the text of a configuration file (JSON). */
export function validateConfigText(text: string): Validation {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { errors: [`not valid JSON: ${(err as Error).message}`] };
  }
  const kind = kindOf(json);
  if (kind === 'configuration') return validateConfiguration(json as Json);
  if (kind === 'cluster' || kind === 'policy') {
    const entry = json as Json;
    const name = typeof entry.name === 'string' ? ` ${entry.name}` : '';
    return {
      kind,
      summary: `${kind}${name}`,
      errors: check(kind === 'cluster' ? clusterSchema : servicePolicySchema, json),
    };
  }
  return { errors: [kind] };
}

/** Reads and validates a file. @throws UsageError for YAML, CliError when unreadable */
export async function validateConfigFile(file: string): Promise<Validation> {
  if (/\.ya?ml$/i.test(file))
    throw new UsageError(`${file}: YAML is not supported; write the configuration as JSON`);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new CliError(
      `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  return validateConfigText(text);
}
