import {
  GetParametersByPathCommand,
  type GetParametersByPathCommandOutput,
  PutParameterCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import type { z } from 'zod';
import { formatPolicyIssue, toPolicyIssues } from '../analysis/index.js';
import { ConfigError, ConfigUnavailableError } from './errors.js';
import { type ClusterConfig, clusterSchema, type ServicePolicy, servicePolicySchema } from './schema.js';

export interface Config {
  clusters: Map<string, ClusterConfig>;
  policies: ServicePolicy[];
}

/** Parameter names under the account's prefix (default /deployer). */
export const configPaths = (prefix: string) => ({
  clusters: `${prefix}/clusters`,
  services: `${prefix}/services`,
  cluster: (name: string) => `${prefix}/clusters/${name}`,
  service: (name: string) => `${prefix}/services/${name}`,
});

/** Every field problem of one parameter, as "field a.b: message" (analysis issues keep metric and offset). */
function describeIssues(error: z.ZodError, input: unknown): string {
  return error.issues
    .map((issue) => {
      const [head, ...rest] = issue.path;
      if (head === 'analysis') {
        const sub = { ...error, issues: [{ ...issue, path: rest }] } as unknown as z.ZodError;
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
      return `field ${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`;
    })
    .join('; ');
}

/**
 * Parses and validates one parameter's JSON value.
 * @throws ConfigError naming the parameter and each bad field
 */
export function parseParameter<S extends z.ZodType>(
  schema: S,
  parameter: string,
  value: string | undefined,
): z.output<S> {
  let json: unknown;
  try {
    json = JSON.parse(value ?? '');
  } catch (err) {
    throw new ConfigError(`parameter ${parameter}: not valid JSON (${(err as Error).message})`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new ConfigError(`parameter ${parameter}: ${describeIssues(parsed.error, json)}`);
  return parsed.data;
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
 * each policy names clusters that exist. Validated on every read: a bad parameter is a clear error.
 * @throws ConfigError, ConfigUnavailableError
 */
export async function loadConfig(ssm: SSMClient, prefix: string, signal?: AbortSignal): Promise<Config> {
  const paths = configPaths(prefix);
  const [clusterParams, serviceParams] = await Promise.all([
    readPath(ssm, paths.clusters, signal),
    readPath(ssm, paths.services, signal),
  ]);
  const clusters = new Map<string, ClusterConfig>();
  for (const p of clusterParams) {
    const c = parseParameter(clusterSchema, p.name, p.value);
    if (p.name !== paths.cluster(c.name))
      throw new ConfigError(`parameter ${p.name}: field name: "${c.name}" does not match the parameter name`);
    clusters.set(c.name, c);
  }
  const policies = serviceParams.map((p) => {
    const policy = parseParameter(servicePolicySchema, p.name, p.value);
    policy.clusters.forEach((c, i) => {
      if (!clusters.has(c))
        throw new ConfigError(
          `parameter ${p.name}: field clusters.${i}: no cluster "${c}" (no parameter ${paths.cluster(c)})`,
        );
    });
    return policy;
  });
  return { clusters, policies };
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
