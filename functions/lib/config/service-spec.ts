import * as z from '../zod.js';

/**
 * What a service needs besides its image, as a policy declares it: every field set here replaces
 * that part of the service's spec on every cluster (declarative, like a Pulumi resource); a field
 * left out is left as the cluster has it. Values of secrets are never here, only where they live.
 */

/** Where a secret's content lives: a SecureString (or String) parameter, or a Secrets Manager secret. */
const parameterSource = z.strictObject({
  parameter: z
    .string()
    .check(z.regex(/^(\/[A-Za-z0-9_.-]+)+$/, 'a parameter path such as /app/web/db-password')),
});
const secretsManagerSource = z.strictObject({
  secretsManager: z.string().check(z.minLength(1), z.maxLength(2048)),
});
export const contentSourceSchema = z.union([parameterSource, secretsManagerSource]);

/** Docker object names: the deployer appends `-<12 hex of the content's hash>` (Docker's limit is 64). */
const objectName = z
  .string()
  .check(
    z.regex(
      /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,49}$/,
      'letters, digits, ".", "_" and "-", at most 50 (the deployer appends -<content hash>)',
    ),
  );

const fileMode = z._default(z.number().check(z.int(), z.gte(0), z.lte(0o777)), 0o444);

/** A Docker secret made from a source, mounted at /run/secrets/<target>. */
export const serviceSecretSchema = z.strictObject({
  name: objectName,
  source: contentSourceSchema,
  /** File name under /run/secrets (default: the name). */
  target: z.optional(z.string().check(z.regex(/^[A-Za-z0-9_.-]+$/, 'a file name, no slashes'))),
  uid: z._default(z.string().check(z.regex(/^\d+$/)), '0'),
  gid: z._default(z.string().check(z.regex(/^\d+$/)), '0'),
  mode: fileMode,
});

/** A Docker config: content from a parameter or secret, or written inline in the policy. */
export const serviceConfigSchema = z.strictObject({
  name: objectName,
  source: z.union([
    parameterSource,
    secretsManagerSource,
    z.strictObject({ inline: z.string().check(z.maxLength(500_000)) }),
  ]),
  /** Absolute path in the container (default: /<name>). */
  target: z.optional(z.string().check(z.regex(/^\/[^\0]*$/, 'an absolute path'))),
  uid: z._default(z.string().check(z.regex(/^\d+$/)), '0'),
  gid: z._default(z.string().check(z.regex(/^\d+$/)), '0'),
  mode: fileMode,
});

/** A network the service joins; an overlay network the cluster lacks is created first. */
export const serviceNetworkSchema = z.strictObject({
  name: z.string().check(z.regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/)),
  driver: z._default(z.string().check(z.minLength(1)), 'overlay'),
  /** IPsec encryption of the overlay's data plane (the driver option `encrypted`). */
  encrypted: z._default(z.boolean(), false),
  attachable: z._default(z.boolean(), false),
  aliases: z.optional(z.array(z.string().check(z.minLength(1)))),
});

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** Bytes from 134217728, "128m", "128MiB", "1.5g" (binary units, as Docker's RAMInBytes). */
export function bytesOf(value: number | string): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  const m = /^(\d+(?:\.\d+)?)\s*([bkmg]?)(?:i?b)?$/i.exec(value.trim());
  if (!m) return undefined;
  const bytes = Number(m[1]) * (UNITS[(m[2] ?? '').toLowerCase()] ?? Number.NaN);
  return Number.isFinite(bytes) ? Math.round(bytes) : undefined;
}

/** Bytes, or "128m", "512MiB", "1g"; at least 6 MiB (checked with the whole spec). */
const memory = z.union([z.number(), z.string()]);
const MIN_MEMORY = 6 * 1024 * 1024;

const resourceLimits = z.strictObject({
  /** CPUs, e.g. 0.5 (the Engine API's NanoCPUs). */
  cpus: z.optional(z.number().check(z.gt(0), z.lte(1024))),
  memory: z.optional(memory),
});

const duration = z.number().check(z.gte(0), z.lte(86_400));

export const healthcheckSchema = z.union([
  z.strictObject({
    /** ["CMD", …] or ["CMD-SHELL", "…"], as in a Dockerfile's HEALTHCHECK. */
    test: z.array(z.string()).check(z.minLength(2)),
    intervalSeconds: z._default(duration, 30),
    timeoutSeconds: z._default(duration, 30),
    retries: z._default(z.number().check(z.int(), z.gte(0)), 3),
    startPeriodSeconds: z._default(duration, 0),
  }),
  z.strictObject({ disable: z.literal(true) }),
]);

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The desired spec of a service beyond its image (policy `spec`). */
export const serviceSpecSchema = z
  .strictObject({
    /** The service's whole environment (replaces what the cluster has; not for secrets). */
    env: z.optional(z.record(z.string(), z.string())),
    /** Container labels (the deployer's own `deployer.*` labels are kept). */
    labels: z.optional(z.record(z.string(), z.string())),
    resources: z.optional(
      z.strictObject({ limits: z.optional(resourceLimits), reservations: z.optional(resourceLimits) }),
    ),
    placement: z.optional(z.strictObject({ constraints: z.array(z.string().check(z.minLength(3))) })),
    healthcheck: z.optional(healthcheckSchema),
    networks: z.optional(z.array(serviceNetworkSchema)),
    secrets: z.optional(z.array(serviceSecretSchema)),
    configs: z.optional(z.array(serviceConfigSchema)),
  })
  .check(
    z.superRefine((s, ctx) => {
      for (const key of Object.keys(s.env ?? {})) {
        if (!ENV_NAME.test(key))
          ctx.addIssue({ code: 'custom', path: ['env', key], message: 'not a valid variable name' });
      }
      const h = s.healthcheck;
      if (h && 'test' in h && h.test[0] !== 'CMD' && h.test[0] !== 'CMD-SHELL')
        ctx.addIssue({
          code: 'custom',
          path: ['healthcheck', 'test', 0],
          message: 'must be "CMD" or "CMD-SHELL" (as in a Dockerfile\'s HEALTHCHECK)',
        });
      for (const kind of ['limits', 'reservations'] as const) {
        const m = s.resources?.[kind]?.memory;
        const bytes = m === undefined ? undefined : bytesOf(m);
        if (m !== undefined && (bytes === undefined || bytes < MIN_MEMORY))
          ctx.addIssue({
            code: 'custom',
            path: ['resources', kind, 'memory'],
            message: 'a size of at least 6 MiB (Docker\'s minimum), in bytes or as "128m", "512MiB", "1g"',
          });
      }
      for (const key of Object.keys(s.labels ?? {})) {
        if (key.startsWith('deployer.'))
          ctx.addIssue({
            code: 'custom',
            path: ['labels', key],
            message: "deployer.* labels are the deployer's own",
          });
      }
      const twice = (
        list: Array<{ name: string }> | undefined,
        field: string,
        what: (x: never) => string,
      ) => {
        const seen = new Set<string>();
        list?.forEach((item, i) => {
          const key = what(item as never);
          if (seen.has(key))
            ctx.addIssue({ code: 'custom', path: [field, i], message: `"${key}" is listed twice` });
          seen.add(key);
        });
      };
      twice(s.secrets, 'secrets', (x: { name: string }) => x.name);
      twice(s.secrets, 'secrets', (x: { name: string; target?: string }) => `target ${x.target ?? x.name}`);
      twice(s.configs, 'configs', (x: { name: string }) => x.name);
      twice(s.networks, 'networks', (x: { name: string }) => x.name);
    }),
  );

export type ServiceSpecPolicy = z.output<typeof serviceSpecSchema>;
export type ServiceSecret = z.output<typeof serviceSecretSchema>;
export type ServiceConfigFile = z.output<typeof serviceConfigSchema>;
export type ContentSource = z.output<typeof contentSourceSchema>;
