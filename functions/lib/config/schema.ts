import { analysisSchema } from '../analysis/index.js';
import * as z from '../zod.js';
import { serviceSpecSchema } from './service-spec.js';

const name = z
  .string()
  .check(
    z.regex(
      /^[a-z0-9][a-z0-9-]{0,62}$/,
      'lowercase letters, digits and dashes, starting with a letter or digit',
    ),
  );
const seconds = (def: number) => z._default(z.number().check(z.int(), z.gte(0), z.lte(31_536_000)), def);

/**
 * Where a secret lives: a SecureString parameter, or a Secrets Manager secret (name or ARN). The
 * configuration holds only the reference; the value is read when it is used, never stored.
 */
export const secretRefSchema = z.union([
  z.strictObject({
    parameter: z
      .string()
      .check(z.regex(/^(\/[A-Za-z0-9_.-]+)+$/, 'a parameter path such as /deployer/secrets/prometheus')),
  }),
  z.strictObject({ secretsManager: z.string().check(z.minLength(1), z.maxLength(2048)) }),
]);

/**
 * How the deployer authenticates to a cluster's Prometheus: basic (the secret holds JSON
 * `{username, password}`), bearer (the secret holds the token), or SigV4 with the Lambda's own
 * credentials (Amazon Managed Service for Prometheus, signing name `aps`).
 */
export const prometheusAuthSchema = z.union([
  z.strictObject({ basic: z.strictObject({ secret: secretRefSchema }) }),
  z.strictObject({ bearer: z.strictObject({ secret: secretRefSchema }) }),
  z.strictObject({
    sigv4: z.strictObject({
      /** Signing region; default: the region in an aps-workspaces URL, else the cluster's. */
      region: z.optional(z.string().check(z.minLength(1))),
      service: z._default(z.string().check(z.minLength(1)), 'aps'),
    }),
  }),
]);

/** Query parameter names that carry credentials (api_key, access_token, password, X-Amz-Signature, …). */
const CREDENTIAL_PARAMETER = /token|key|pass|pwd|secret|auth|sig|credential/i;

/**
 * A Prometheus base URL without credentials: userinfo or credential-like query parameters are
 * rejected (messages never echo the URL), and so is any other query string or fragment.
 */
const prometheusUrl = z.url({ protocol: /^https?$/ }).check(
  z.superRefine((value, ctx) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      return; // z.url() has reported it
    }
    const names = [...url.searchParams.keys(), ...new URLSearchParams(url.hash.slice(1)).keys()];
    if (url.username || url.password) {
      ctx.addIssue({
        code: 'custom',
        message: 'must not carry credentials (user:password@); reference a secret in prometheus.auth',
      });
    } else if (names.some((n) => CREDENTIAL_PARAMETER.test(n))) {
      ctx.addIssue({
        code: 'custom',
        message: 'must not carry credentials in its query string; reference a secret in prometheus.auth',
      });
    } else if (url.search || url.hash) {
      ctx.addIssue({
        code: 'custom',
        message: 'must not carry a query string or fragment (the client appends /api/v1/query)',
      });
    }
  }),
);

/** One Swarm cluster: its manager is an SSM managed instance (i-… on EC2, mi-… on premises). */
export const clusterSchema = z.strictObject({
  name,
  region: z.string().check(z.minLength(1)),
  target: z.string().check(z.regex(/^(i|mi)-[0-9a-zA-Z]{1,32}$/, 'an SSM managed instance id: i-… or mi-…')),
  engine: z._default(
    z.strictObject({
      port: z._default(z.number().check(z.int(), z.gte(1), z.lte(65535)), 2375),
      /** SecureString parameter holding {ca, cert, key} PEMs for an Engine API with mutual TLS (port 2376). */
      tlsParameter: z.optional(z.string().check(z.startsWith('/'))),
      /** Session document; the default forwards a port on the manager's own loopback. */
      document: z._default(z.string().check(z.minLength(1)), 'AWS-StartPortForwardingSession'),
    }),
    { port: 2375, document: 'AWS-StartPortForwardingSession' },
  ),
  prometheus: z.union([
    z.strictObject({ url: prometheusUrl, auth: z.optional(prometheusAuthSchema) }),
    /** Prometheus on the manager host, reached through the same SSM session. */
    z.strictObject({
      tunnelPort: z.number().check(z.int(), z.gte(1), z.lte(65535)),
      auth: z.optional(prometheusAuthSchema),
    }),
  ]),
  labels: z._default(z.record(z.string(), z.string()), {}),
  minEngineVersion: z._default(z.string().check(z.regex(/^\d+(\.\d+)*$/)), '20.10.0'),
  /**
   * How long a deployment keeps retrying a manager it cannot reach (no agent, no engine) before it
   * gives the cluster up as unreachable, its state unverified. The workflow retries reachability
   * errors at most 60 times, 30 s apart at most: keep it under 30 minutes.
   */
  unreachableSeconds: z._default(z.number().check(z.int(), z.gte(10), z.lte(1800)), 300),
});

const tagPattern = z.union([
  z.strictObject({ glob: z.string().check(z.minLength(1)) }),
  z.strictObject({ regex: z.string().check(z.minLength(1)) }),
  z.strictObject({ semver: z.string().check(z.minLength(1)) }),
]);

const updateConfigSchema = z.strictObject({
  parallelism: z._default(z.number().check(z.int(), z.gte(0)), 1),
  delaySeconds: z._default(z.number().check(z.gte(0)), 0),
  monitorSeconds: z._default(z.number().check(z.gte(0)), 5),
  failureAction: z._default(z.enum(['pause', 'continue', 'rollback']), 'pause'),
  maxFailureRatio: z._default(z.number().check(z.gte(0), z.lte(1)), 0),
  order: z._default(z.enum(['stop-first', 'start-first']), 'stop-first'),
});

export const updatePolicySchema = z._default(updateConfigSchema, {
  parallelism: 1,
  delaySeconds: 0,
  monitorSeconds: 5,
  failureAction: 'pause',
  maxFailureRatio: 0,
  order: 'stop-first',
});

export const waveSchema = z.strictObject({
  name,
  clusters: z.array(name).check(z.minLength(1)),
  /** Time the wave's clusters run the new digest, converged, before the next wave starts. */
  bakeSeconds: seconds(0),
  /** Clusters of this wave that may fail to converge before the deployment rolls back (default 0). */
  maxFailures: z._default(z.number().check(z.int(), z.gte(0)), 0),
});

/** How one service is deployed: which images, where, how it is judged and promoted. */
export const servicePolicySchema = z
  .strictObject({
    name,
    /** The swarm service name on every cluster. */
    service: z.string().check(z.regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/)),
    repository: z.string().check(z.minLength(2)),
    tags: tagPattern,
    /** ECR registries (account and region) whose pushes this policy deploys; default: any. */
    registries: z.optional(
      z
        .array(
          z.strictObject({
            account: z.string().check(z.regex(/^\d{12}$/, 'a 12-digit AWS account id')),
            region: z
              .string()
              .check(z.regex(/^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$/, 'an AWS region name such as eu-west-1')),
          }),
        )
        .check(z.minLength(1)),
    ),
    clusters: z.array(name).check(z.minLength(1)),
    canary: z.strictObject({
      cluster: name,
      percent: z.number().check(z.gt(0), z.lte(100)),
    }),
    analysis: analysisSchema,
    /** Ordered groups of clusters promoted together; default: one wave with every cluster. */
    waves: z.optional(z.array(waveSchema).check(z.minLength(1))),
    promotion: z._default(
      z.strictObject({
        mode: z._default(z.enum(['auto', 'manual']), 'auto'),
        approvalTimeoutSeconds: z._default(z.number().check(z.int(), z.gte(5), z.lte(31_536_000)), 3600),
        onTimeout: z._default(z.enum(['rollback', 'promote']), 'rollback'),
      }),
      { mode: 'auto', approvalTimeoutSeconds: 3600, onTimeout: 'rollback' },
    ),
    concurrency: z._default(z.enum(['queue', 'supersede', 'reject']), 'queue'),
    update: updatePolicySchema,
    /**
     * Swarm's own rollback_config (how Swarm rolls a failed update back when update.failureAction
     * is rollback); default: the same as update.
     */
    rollbackConfig: z.optional(updateConfigSchema),
    /**
     * The oldest engine the service runs on (e.g. "23.0.0" for a feature it needs): preflight refuses
     * a cluster whose engine is older than this or than the cluster's own minimum.
     */
    minEngineVersion: z.optional(z.string().check(z.regex(/^\d+(\.\d+)*$/))),
    /** What the service needs besides its image: environment, resources, networks, secrets, … */
    spec: z.optional(serviceSpecSchema),
    /** Most clusters of a wave changed at once (Map MaxConcurrency). */
    maxConcurrency: z._default(z.number().check(z.int(), z.gte(1), z.lte(40)), 10),
    /** A cluster that has not converged this long after a change has failed. */
    progressDeadlineSeconds: seconds(300),
    /** Seconds between progress checks (Wait state). */
    pollSeconds: z._default(z.number().check(z.int(), z.gte(1), z.lte(300)), 5),
  })
  .check(
    z.superRefine((p, ctx) => {
      const clusters = new Set(p.clusters);
      if (clusters.size !== p.clusters.length)
        ctx.addIssue({ code: 'custom', path: ['clusters'], message: 'lists a cluster twice' });
      if (!clusters.has(p.canary.cluster)) {
        ctx.addIssue({
          code: 'custom',
          path: ['canary', 'cluster'],
          message: `"${p.canary.cluster}" is not one of the policy's clusters`,
        });
      }
      if (p.waves) {
        const seen = new Map<string, number>();
        p.waves.forEach((w, i) => {
          w.clusters.forEach((c, j) => {
            if (!clusters.has(c))
              ctx.addIssue({
                code: 'custom',
                path: ['waves', i, 'clusters', j],
                message: `"${c}" is not one of the policy's clusters`,
              });
            else if (seen.has(c))
              ctx.addIssue({
                code: 'custom',
                path: ['waves', i, 'clusters', j],
                message: `"${c}" is already in wave ${seen.get(c)}`,
              });
            seen.set(c, i);
          });
        });
        const missing = p.clusters.filter((c) => !seen.has(c));
        if (missing.length > 0)
          ctx.addIssue({
            code: 'custom',
            path: ['waves'],
            message: `clusters in no wave: ${missing.join(', ')}`,
          });
      }
      if ('regex' in p.tags) {
        try {
          new RegExp(p.tags.regex);
        } catch (err) {
          ctx.addIssue({
            code: 'custom',
            path: ['tags', 'regex'],
            message: `not a valid regular expression: ${(err as Error).message}`,
          });
        }
      }
    }),
  );

export type ClusterConfig = z.output<typeof clusterSchema>;
export type ServicePolicy = z.output<typeof servicePolicySchema>;
export type ServicePolicyInput = z.input<typeof servicePolicySchema>;
export type ClusterConfigInput = z.input<typeof clusterSchema>;
export type SecretRef = z.output<typeof secretRefSchema>;
export type PrometheusAuthConfig = z.output<typeof prometheusAuthSchema>;
