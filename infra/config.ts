/**
 * The stack configuration: the ONLY module of the program that reads Pulumi config. Every value is
 * validated before any resource exists; clusters and service policies with the very schemas the
 * handlers read them with (functions/lib/config/schema.ts), through the same parser
 * (`parseParameter` of functions/lib/config/store.ts), so an error names the key and the field and
 * never echoes a value. A bad stack config throws {@link StackConfigError} synchronously.
 */
import * as pulumi from '@pulumi/pulumi';
import { ConfigError } from '../functions/lib/config/errors.js';
import {
  type ClusterConfig,
  clusterSchema,
  type ServicePolicy,
  servicePolicySchema,
} from '../functions/lib/config/schema.js';
import { parseParameter } from '../functions/lib/config/store.js';
import * as z from '../functions/lib/zod.js';

/** The Pulumi project name (infra/Pulumi.yaml): config keys are `swarm-deployer:<key>`. */
export const PROJECT = 'swarm-deployer';

/** A stack configuration the handlers' schemas (or the program's own) reject; names keys and fields only. */
export class StackConfigError extends Error {
  override readonly name = 'StackConfigError';
}

/** CloudWatch Logs accepts only these retention periods. */
const RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

const clusterName = z
  .string()
  .check(z.regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'a cluster name (lowercase, digits, dashes)'));

const subscriptionSchema = z.discriminatedUnion('protocol', [
  z.strictObject({ protocol: z.literal('email'), endpoint: z.email() }),
  z.strictObject({ protocol: z.literal('https'), endpoint: z.url({ protocol: /^https$/ }) }),
  z.strictObject({
    protocol: z.literal('sqs'),
    endpoint: z
      .string()
      .check(z.regex(/^arn:aws[a-z-]*:sqs:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]+(\.fifo)?$/, 'an SQS queue ARN')),
  }),
]);

/** IAM principals allowed to call the HTTP API (through the approver role the program creates). */
const principalArn = z
  .string()
  .check(
    z.regex(
      /^arn:aws[a-z-]*:iam::\d{12}:(root|role\/[\w+=,.@/-]+|user\/[\w+=,.@/-]+)$/,
      'an IAM role, user or account root ARN',
    ),
  );

/**
 * How often the registry credentials Swarm stores with each service are refreshed: ECR's
 * authorization token lasts 12 hours, and a task Swarm reschedules after it expired cannot pull,
 * so a refresh must always come before that.
 */
const REFRESH_HOURS =
  'whole hours from 1 to 11 (an ECR token lasts 12 hours: each refresh must come before the last one expires)';

const tlsMaterialSchema = z.strictObject({
  ca: z.string().check(z.includes('-----BEGIN', { message: 'a PEM certificate' })),
  cert: z.string().check(z.includes('-----BEGIN', { message: 'a PEM certificate' })),
  key: z.string().check(z.includes('-----BEGIN', { message: 'a PEM private key' })),
});

/** The program's own keys (`aws:region` for `region`), exported for docs/tools/config-reference.ts. */
export const schemas = {
  namePrefix: z
    .string()
    .check(z.regex(/^[a-z][a-z0-9-]{0,23}$/, 'lowercase letters, digits and dashes, at most 24 characters')),
  prefix: z.string().check(z.regex(/^(\/[A-Za-z0-9_.-]+)+$/, 'a parameter path such as /deployer')),
  clusters: z.array(z.unknown()),
  services: z
    .array(z.unknown())
    .check(z.minLength(1, 'at least one service policy (the push rule watches their repositories)')),
  alertSubscriptions: z.array(subscriptionSchema),
  api: z.strictObject({ allowedPrincipals: z._default(z.array(principalArn), []) }),
  engineTls: z.record(clusterName, tlsMaterialSchema),
  logRetentionDays: z.number().check(
    z.int(),
    z.refine(
      (n) => (RETENTION_DAYS as readonly number[]).includes(n),
      'one of CloudWatch Logs retention periods',
    ),
  ),
  registryAuthRefreshHours: z
    .number()
    .check(z.int(REFRESH_HOURS), z.gte(1, REFRESH_HOURS), z.lte(11, REFRESH_HOURS)),
  tags: z.record(
    z.string().check(z.regex(/^[\w .:/=+@-]{1,128}$/, 'a tag key')),
    z.string().check(z.regex(/^[\w .:/=+@-]{0,256}$/, 'a tag value')),
  ),
  instanceTag: z.strictObject({
    key: z.string().check(z.regex(/^[\w .:/=+@-]{1,128}$/, 'a tag key')),
    value: z.string().check(z.regex(/^[\w .:/=+@-]{1,256}$/, 'a tag value')),
  }),
  demoFleet: z.strictObject({
    clusters: z.array(clusterName).check(z.minLength(1), z.maxLength(5)),
    instanceType: z._default(
      z
        .string()
        .check(
          z.regex(
            /^[a-z][a-z0-9]*g[a-z0-9]*\.[a-z0-9]+$/,
            'a Graviton (arm64) instance type such as t4g.small',
          ),
        ),
      't4g.small',
    ),
  }),
  region: z.string().check(z.regex(/^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$/, 'an AWS region name such as eu-west-1')),
};

export type AlertSubscription = z.output<typeof subscriptionSchema>;
export type TlsMaterial = z.output<typeof tlsMaterialSchema>;

/** A demo cluster: everything of its cluster entry but the instance id, which the program creates. */
export interface DemoCluster {
  name: string;
  entry: Omit<ClusterConfig, 'target'>;
}

export interface StackConfig {
  project: string;
  stack: string;
  region: string;
  /** Prefix of physical resource names (functions, state machine, table, topic). */
  namePrefix: string;
  /** Parameter Store prefix of the configuration (DEPLOYER_PREFIX). */
  prefix: string;
  /** Validated cluster entries (defaults filled in; engine.tlsParameter set where engineTls has material). */
  clusters: ClusterConfig[];
  services: ServicePolicy[];
  /** The ECR repositories the push rule watches: those of the service policies. */
  repositories: string[];
  alertSubscriptions: AlertSubscription[];
  api: { allowedPrincipals: string[] };
  /** Client TLS material per cluster, each a Pulumi secret, and the SecureString it goes to. */
  engineTls: Array<{ cluster: string; parameter: string; material: pulumi.Output<string> }>;
  logRetentionDays: number;
  /** Hours between two runs of refresh-registry-auth (1–11: under ECR's 12-hour token lifetime). */
  registryAuthRefreshHours: number;
  tags: Record<string, string>;
  /** The tag on every manager the functions may start sessions on. */
  instanceTag: { key: string; value: string };
  /** Session documents the clusters use (StartSession is allowed on these only). */
  sessionDocuments: string[];
  /** Secrets Manager references of Prometheus credentials (names or ARNs). */
  secretRefs: string[];
  /** Parameters the service policies' secrets and configs read (`spec.*[].source.parameter`). */
  serviceParameters: string[];
  /** Secrets Manager references of the service policies' secrets and configs (names or ARNs). */
  serviceSecretRefs: string[];
  demoFleet?: { instanceType: string; clusters: DemoCluster[] };
}

/** The raw stack configuration: each key's value as JSON text (as Pulumi config holds it), or absent. */
export type RawStackConfig = Partial<Record<keyof typeof schemas, string>>;

/** A stand-in instance id, to check a demo cluster's entry against clusterSchema before the instance exists. */
const PLACEHOLDER_TARGET = 'i-00000000000000000';

class Issues {
  readonly list: string[] = [];
  add(message: string) {
    this.list.push(message);
  }
  /** Validates one value with `schema` through the handlers' parser; `field` names it in messages. */
  check<S extends z.core.$ZodType>(schema: S, key: string, value: unknown): z.output<S> | undefined {
    try {
      return parseParameter(schema, key, JSON.stringify(value ?? null));
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      this.add(err.message.replace(/^parameter /, 'stack config '));
      return undefined;
    }
  }
}

/** Parses one key's JSON text; an error keeps the position only (V8 quotes the text, which may be secret). */
function json(issues: Issues, key: string, text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    const at = /at position (\d+)/.exec((err as Error).message)?.[1];
    // A plain string (pulumi config set prefix /deployer) is not JSON: take it as it is.
    if (!/^\s*[[{"]/.test(text)) return text;
    issues.add(`stack config ${key}: not valid JSON${at ? ` (at position ${at})` : ''}`);
    return null;
  }
}

/**
 * Validates the whole stack configuration. Pure but for wrapping TLS material in `pulumi.secret`.
 * @throws StackConfigError naming every bad key and field, never a value
 */
export function parseStackConfig(
  raw: RawStackConfig,
  context: { project: string; stack: string },
): StackConfig {
  const issues = new Issues();
  const key = (k: string) => `${context.project}:${k}`;
  const read = <K extends keyof typeof schemas>(
    k: K,
    fallback?: z.input<(typeof schemas)[K]>,
  ): z.output<(typeof schemas)[K]> | undefined => {
    const value = json(issues, key(k), raw[k]);
    if (value === undefined && fallback === undefined) {
      issues.add(`stack config ${key(k)}: required (pulumi config set ${k} …)`);
      return undefined;
    }
    return issues.check(schemas[k], key(k), value ?? fallback) as z.output<(typeof schemas)[K]> | undefined;
  };

  const region = (() => {
    const value = raw.region;
    if (value === undefined) {
      issues.add('stack config aws:region: required (pulumi config set aws:region eu-west-1)');
      return undefined;
    }
    return issues.check(schemas.region, 'aws:region', value);
  })();
  const namePrefix = read(
    'namePrefix',
    `deployer-${context.stack}`
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .slice(0, 24)
      .replace(/-+$/, ''),
  );
  const prefix = read('prefix', '/deployer') ?? '/deployer';
  const rawClusters = read('clusters', []) ?? [];
  const rawServices = read('services') ?? [];
  const alertSubscriptions = read('alertSubscriptions', []) ?? [];
  const api = read('api', { allowedPrincipals: [] }) ?? { allowedPrincipals: [] };
  const engineTls = read('engineTls', {}) ?? {};
  const logRetentionDays = read('logRetentionDays', 30) ?? 30;
  const registryAuthRefreshHours = read('registryAuthRefreshHours', 6) ?? 6;
  const tags = read('tags', {}) ?? {};
  const instanceTag = read('instanceTag', { key: 'swarm-deployer', value: 'manager' }) ?? {
    key: 'swarm-deployer',
    value: 'manager',
  };
  const demo = raw.demoFleet === undefined ? undefined : read('demoFleet');

  const clusters: ClusterConfig[] = [];
  rawClusters.forEach((c, i) => {
    const parsed = issues.check(clusterSchema, `${key('clusters')}[${i}]`, c);
    if (!parsed) return;
    if (clusters.some((o) => o.name === parsed.name))
      issues.add(`stack config ${key('clusters')}[${i}]: field name: another cluster has this name`);
    clusters.push(parsed);
  });

  const demoClusters: DemoCluster[] = [];
  for (const [i, name] of (demo?.clusters ?? []).entries()) {
    if (clusters.some((c) => c.name === name) || demoClusters.some((c) => c.name === name)) {
      issues.add(`stack config ${key('demoFleet')}: field clusters.${i}: another cluster has this name`);
      continue;
    }
    const entry = issues.check(clusterSchema, `${key('demoFleet')}.clusters[${i}]`, {
      name,
      region,
      target: PLACEHOLDER_TARGET,
      engine: { port: 2375, document: 'AWS-StartPortForwardingSession' },
      prometheus: { tunnelPort: 9090 },
      labels: { demo: 'true' },
    });
    if (!entry) continue;
    const { target: _target, ...rest } = entry;
    demoClusters.push({ name, entry: rest });
  }
  const known = new Set([...clusters.map((c) => c.name), ...demoClusters.map((c) => c.name)]);

  // TLS material: a SecureString per cluster, named by the cluster's engine.tlsParameter.
  const tls: StackConfig['engineTls'] = [];
  for (const [cluster, material] of Object.entries(engineTls)) {
    const parameter = `${prefix}/tls/${cluster}`;
    const entry = clusters.find((c) => c.name === cluster);
    if (!entry) {
      issues.add(
        `stack config ${key('engineTls')}: field ${cluster}: ${known.has(cluster) ? 'demo clusters serve a plain loopback engine' : 'no such cluster in clusters'}`,
      );
      continue;
    }
    const i = clusters.indexOf(entry);
    if (entry.engine.tlsParameter !== undefined && entry.engine.tlsParameter !== parameter) {
      issues.add(
        `stack config ${key('clusters')}[${i}]: field engine.tlsParameter: engineTls.${cluster} creates ${parameter}; leave it unset or name that parameter`,
      );
      continue;
    }
    entry.engine.tlsParameter = parameter;
    tls.push({ cluster, parameter, material: pulumi.secret(JSON.stringify(material)) });
  }

  const services: ServicePolicy[] = [];
  rawServices.forEach((s, i) => {
    const field = `${key('services')}[${i}]`;
    const parsed = issues.check(servicePolicySchema, field, s);
    if (!parsed) return;
    if (services.some((o) => o.name === parsed.name))
      issues.add(`stack config ${field}: field name: another service policy has this name`);
    parsed.clusters.forEach((c, j) => {
      if (!known.has(c))
        issues.add(`stack config ${field}: field clusters.${j}: no cluster "${c}" in clusters or demoFleet`);
    });
    services.push(parsed);
  });
  if (issues.list.length > 0)
    throw new StackConfigError(`invalid stack configuration:\n${issues.list.join('\n')}`);

  const secretRefs = new Set<string>();
  for (const c of clusters) {
    const auth = c.prometheus.auth;
    const ref =
      auth && ('basic' in auth ? auth.basic.secret : 'bearer' in auth ? auth.bearer.secret : undefined);
    if (ref && 'secretsManager' in ref) secretRefs.add(ref.secretsManager);
  }
  const sources = serviceSources(services);
  return {
    project: context.project,
    stack: context.stack,
    region: region as string,
    namePrefix: namePrefix as string,
    prefix,
    clusters,
    services,
    repositories: [...new Set(services.map((s) => s.repository))].sort(),
    alertSubscriptions,
    api: { allowedPrincipals: api.allowedPrincipals },
    engineTls: tls,
    logRetentionDays,
    registryAuthRefreshHours,
    tags,
    instanceTag,
    sessionDocuments: [
      ...new Set([
        ...clusters.map((c) => c.engine.document),
        ...demoClusters.map((c) => c.entry.engine.document),
      ]),
    ].sort(),
    secretRefs: [...secretRefs].sort(),
    serviceParameters: sources.parameters,
    serviceSecretRefs: sources.secrets,
    ...(demo ? { demoFleet: { instanceType: demo.instanceType, clusters: demoClusters } } : {}),
  };
}

/**
 * Where the policies' service secrets and configs come from (`spec.secrets[].source`,
 * `spec.configs[].source`; inline configs read nothing): parameter names and Secrets Manager
 * references (names or ARNs), each sorted and once.
 */
export function serviceSources(services: readonly ServicePolicy[]): {
  parameters: string[];
  secrets: string[];
} {
  const parameters = new Set<string>();
  const secrets = new Set<string>();
  for (const s of services) {
    for (const { source } of [...(s.spec?.secrets ?? []), ...(s.spec?.configs ?? [])]) {
      if ('parameter' in source) parameters.add(source.parameter);
      else if ('secretsManager' in source) secrets.add(source.secretsManager);
    }
  }
  return { parameters: [...parameters].sort(), secrets: [...secrets].sort() };
}

/**
 * The ARN IAM matches for a Secrets Manager reference: an ARN as it is, a name (in the deployer's
 * region and account) with the `-??????` of the six random characters Secrets Manager appends.
 */
export function secretArnOf(ref: string, at: { partition: string; region: string; account: string }): string {
  return ref.startsWith('arn:')
    ? ref
    : `arn:${at.partition}:secretsmanager:${at.region}:${at.account}:secret:${ref}-??????`;
}

/** Reads the stack configuration from Pulumi config (raw text: a bad value is never echoed). */
export function loadStackConfig(): StackConfig {
  const config = new pulumi.Config(PROJECT);
  const raw: RawStackConfig = {};
  for (const k of Object.keys(schemas) as Array<keyof typeof schemas>) {
    if (k === 'region') continue;
    const v = config.get(k);
    if (v !== undefined) raw[k] = v;
  }
  const region = new pulumi.Config('aws').get('region');
  if (region !== undefined) raw.region = region;
  return parseStackConfig(raw, { project: PROJECT, stack: pulumi.getStack() });
}
