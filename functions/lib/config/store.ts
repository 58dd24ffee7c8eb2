import {
  GetParametersByPathCommand,
  type GetParametersByPathCommandOutput,
  PutParameterCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { formatPolicyIssue, toPolicyIssues } from '../analysis/index.js';
import * as z from '../zod.js';
import { ConfigError, ConfigUnavailableError } from './errors.js';
import { type ClusterConfig, clusterSchema, type ServicePolicy, servicePolicySchema } from './schema.js';

/** A service policy parameter that cannot be used: only its service is blocked, the others load. */
export interface InvalidPolicy {
  /** The parameter's full name, e.g. /deployer/services/web. */
  parameter: string;
  /** The policy's name as its parameter spells it (the last part of the parameter name). */
  policy?: string;
  /** The raw `repository` when it is a string, so the plan can tell a push was meant for this policy. */
  repository?: string;
  /** Names the parameter and each bad field (and a broken cluster's parameter), never a value. */
  message: string;
}

/** A cluster parameter that cannot be used: it blocks the policies that name the cluster. */
export interface InvalidCluster {
  parameter: string;
  /** The cluster's name as its parameter spells it. */
  cluster: string;
  message: string;
}

export interface Config {
  clusters: Map<string, ClusterConfig>;
  policies: ServicePolicy[];
  /** Policy parameters that failed validation or name an unusable cluster (see {@link invalidPolicyFor}). */
  invalid?: InvalidPolicy[];
}

/** What {@link loadConfig} returns: the valid part, and what is invalid. */
export interface LoadedConfig extends Config {
  invalid: InvalidPolicy[];
  invalidClusters: InvalidCluster[];
}

/** Parameter names under the account's prefix (default /deployer). */
export const configPaths = (prefix: string) => ({
  clusters: `${prefix}/clusters`,
  services: `${prefix}/services`,
  cluster: (name: string) => `${prefix}/clusters/${name}`,
  service: (name: string) => `${prefix}/services/${name}`,
});

/**
 * How badly a union branch fits: a missing or unknown key at the branch's own level means it is
 * the wrong form (10); anything deeper, a nested union included, means the form fits but a value
 * does not (1).
 */
function branchCost(issues: z.core.$ZodIssue[]): number {
  return issues.reduce((sum, issue) => {
    const missing =
      issue.code === 'invalid_type' &&
      issue.path.length === 1 &&
      issue.message.endsWith('received undefined');
    const unknown = issue.code === 'unrecognized_keys' && issue.path.length === 0;
    return sum + (missing || unknown ? 10 : 1);
  }, 0);
}

/**
 * One issue as leaf issues with full paths: a union none of whose branches fits is reported by the
 * branch that fits best, so "field prometheus.url: …" rather than "Invalid input" (ties: each).
 */
function leafIssues(
  issue: z.core.$ZodIssue,
  prefix: PropertyKey[] = [],
): Array<{ path: PropertyKey[]; message: string }> {
  const path = [...prefix, ...issue.path];
  if (issue.code !== 'invalid_union' || issue.errors.length === 0) return [{ path, message: issue.message }];
  const costs = issue.errors.map(branchCost);
  const best = Math.min(...costs);
  const seen = new Set<string>();
  return issue.errors
    .filter((_, i) => costs[i] === best)
    .flatMap((list) => list.flatMap((i) => leafIssues(i, path)))
    .filter((leaf) => {
      const key = `${leaf.path.map(String).join('.')}\u0000${leaf.message}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
}

/** Every field problem of one parameter, as "field a.b: message" (analysis issues keep metric and offset). */
function describeIssues(error: z.core.$ZodError, input: unknown): string {
  return error.issues
    .map((issue) => {
      const [head, ...rest] = issue.path;
      if (head === 'analysis') {
        const sub = { ...error, issues: [{ ...issue, path: rest }] } as unknown as z.core.$ZodError;
        const analysisInput = (input as { analysis?: unknown } | undefined)?.analysis;
        const index = rest[0] === 'metrics' ? rest[1] : undefined;
        return toPolicyIssues(sub, analysisInput)
          .map((i) =>
            formatPolicyIssue({
              ...i,
              field:
                i.metric === undefined
                  ? `analysis.${i.field}`
                  : `analysis.metrics.${String(index)}.${i.field}`,
            }),
          )
          .join('; ');
      }
      return leafIssues(issue)
        .map((leaf) => `field ${leaf.path.map(String).join('.') || '(root)'}: ${leaf.message}`)
        .join('; ');
    })
    .join('; ');
}

/**
 * Parses and validates one parameter's JSON value.
 * @throws ConfigError naming the parameter and each bad field
 */
export function parseParameter<S extends z.core.$ZodType>(
  schema: S,
  parameter: string,
  value: string | undefined,
): z.output<S> {
  const parsed = checkParameter(schema, parameter, value);
  if (!parsed.ok) throw new ConfigError(parsed.message);
  return parsed.value;
}

/** Parses one parameter without throwing; `json` is the raw value when it was JSON. */
function checkParameter<S extends z.core.$ZodType>(
  schema: S,
  parameter: string,
  value: string | undefined,
): { ok: true; value: z.output<S>; json: unknown } | { ok: false; message: string; json?: unknown } {
  let json: unknown;
  try {
    json = JSON.parse(value ?? '');
  } catch (err) {
    // V8's message quotes the text around the error, which may be a secret: keep the position only.
    const at = /at position (\d+)/.exec((err as Error).message)?.[1];
    return {
      ok: false,
      message: `parameter ${parameter}: not valid JSON${at ? ` (at position ${at})` : ''}`,
    };
  }
  const parsed = z.safeParse(schema, json);
  if (!parsed.success)
    return { ok: false, message: `parameter ${parameter}: ${describeIssues(parsed.error, json)}`, json };
  return { ok: true, value: parsed.data, json };
}

/** The part of a parameter name below `path` (`/deployer/services/web` under `/deployer/services` → `web`). */
function below(path: string, parameter: string): string {
  return parameter.startsWith(`${path}/`) ? parameter.slice(path.length + 1) : parameter;
}

/**
 * The invalid policies a push of `repository` may have been meant for: those whose raw repository
 * is `repository`, or could not be read. Empty when no invalid policy can claim the push.
 */
export function invalidPolicyFor(config: Config, repository: string): InvalidPolicy[] {
  return (config.invalid ?? []).filter((i) => i.repository === undefined || i.repository === repository);
}

async function readPath(
  ssm: SSMClient,
  path: string,
  signal?: AbortSignal,
): Promise<Array<{ name: string; value?: string }>> {
  const out: Array<{ name: string; value?: string }> = [];
  let NextToken: string | undefined;
  do {
    let page: GetParametersByPathCommandOutput;
    try {
      page = await ssm.send(
        new GetParametersByPathCommand({ Path: path, Recursive: true, WithDecryption: true, NextToken }),
        {
          abortSignal: signal,
        },
      );
    } catch (err) {
      throw new ConfigUnavailableError(`reading parameters under ${path} failed: ${(err as Error).name}`, {
        cause: err,
      });
    }
    for (const p of page.Parameters ?? []) if (p.Name) out.push({ name: p.Name, value: p.Value });
    NextToken = page.NextToken;
  } while (NextToken);
  return out;
}

/**
 * Reads and validates the whole configuration: every cluster and every service policy, and that
 * each policy names clusters that exist. Validated on every read. A bad policy parameter blocks only
 * its own service, and a bad cluster parameter only the policies that name it: both are returned
 * in `invalid` (and `invalidClusters`) with messages that name the parameter and the fields.
 * @throws ConfigUnavailableError when Parameter Store cannot be read (retryable)
 */
export async function loadConfig(
  ssm: SSMClient,
  prefix: string,
  signal?: AbortSignal,
): Promise<LoadedConfig> {
  const paths = configPaths(prefix);
  const [clusterParams, serviceParams] = await Promise.all([
    readPath(ssm, paths.clusters, signal),
    readPath(ssm, paths.services, signal),
  ]);
  const clusters = new Map<string, ClusterConfig>();
  const invalidClusters: InvalidCluster[] = [];
  for (const p of clusterParams) {
    const parsed = checkParameter(clusterSchema, p.name, p.value);
    const cluster = below(paths.clusters, p.name);
    if (!parsed.ok) invalidClusters.push({ parameter: p.name, cluster, message: parsed.message });
    else if (p.name !== paths.cluster(parsed.value.name))
      invalidClusters.push({
        parameter: p.name,
        cluster,
        message: `parameter ${p.name}: field name: does not match the parameter name`,
      });
    else clusters.set(parsed.value.name, parsed.value);
  }
  const broken = new Map(invalidClusters.map((c) => [c.cluster, c]));
  const policies: ServicePolicy[] = [];
  const invalid: InvalidPolicy[] = [];
  for (const p of serviceParams) {
    const parsed = checkParameter(servicePolicySchema, p.name, p.value);
    const problems: string[] = [];
    if (parsed.ok) {
      parsed.value.clusters.forEach((c, i) => {
        const bad = broken.get(c);
        if (bad)
          problems.push(
            `field clusters.${i}: cluster parameter ${bad.parameter} is invalid (${bad.message})`,
          );
        else if (!clusters.has(c))
          problems.push(`field clusters.${i}: no cluster "${c}" (no parameter ${paths.cluster(c)})`);
      });
      if (problems.length === 0) {
        policies.push(parsed.value);
        continue;
      }
    }
    const repository = (parsed.json as { repository?: unknown } | null | undefined)?.repository;
    invalid.push({
      parameter: p.name,
      policy: below(paths.services, p.name),
      ...(typeof repository === 'string' ? { repository } : {}),
      message: parsed.ok ? `parameter ${p.name}: ${problems.join('; ')}` : parsed.message,
    });
  }
  return { clusters, policies, invalid, invalidClusters };
}

/** Writes a configuration into Parameter Store (the local runtime's file, a bootstrap script). */
export async function writeConfig(
  ssm: SSMClient,
  prefix: string,
  config: { clusters: unknown[]; services: unknown[] },
): Promise<void> {
  const paths = configPaths(prefix);
  for (const c of config.clusters) {
    const parsed = parseParameter(clusterSchema, `${paths.clusters}/<new>`, JSON.stringify(c));
    await ssm.send(
      new PutParameterCommand({
        Name: paths.cluster(parsed.name),
        Value: JSON.stringify(c),
        Type: 'String',
        Overwrite: true,
      }),
    );
  }
  for (const s of config.services) {
    const parsed = parseParameter(servicePolicySchema, `${paths.services}/<new>`, JSON.stringify(s));
    await ssm.send(
      new PutParameterCommand({
        Name: paths.service(parsed.name),
        Value: JSON.stringify(s),
        Type: 'String',
        Overwrite: true,
      }),
    );
  }
}
