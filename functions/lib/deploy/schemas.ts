import * as z from '../zod.js';

/** Schemas of the handlers' inputs: what each state's Parameters hand over (see deploy.asl.json). */

export const deploymentSchema = z.looseObject({
  id: z.string().check(z.minLength(1)),
  policy: z.string(),
  service: z.string().check(z.minLength(1)),
  repository: z.string(),
  tag: z.string(),
  digest: z.string().check(z.regex(/^sha256:[a-f0-9]{64}$/)),
  /** The registry the image was pushed to; absent in plans made before it was recorded. */
  registry: z.optional(
    z.looseObject({
      account: z.string().check(z.regex(/^\d{12}$/)),
      region: z.string().check(z.minLength(1)),
    }),
  ),
  image: z.string().check(z.includes('@sha256:')),
  eventId: z.string(),
  plannedAt: z.string(),
});

export const clusterSchema = z.looseObject({
  name: z.string().check(z.minLength(1)),
  region: z.string(),
  target: z.string().check(z.minLength(1)),
  engine: z.looseObject({
    port: z.number().check(z.int()),
    document: z.string(),
    tlsParameter: z.optional(z.string()),
  }),
  prometheus: z.union([
    z.looseObject({ url: z.string() }),
    z.looseObject({ tunnelPort: z.number().check(z.int()) }),
  ]),
  minEngineVersion: z.string(),
  unreachableSeconds: z.optional(z.number().check(z.int(), z.positive())),
});

export const changeSchema = z.object({
  cluster: z.string(),
  service: z.string(),
  image: z.string(),
  since: z.string(),
  deadline: z.string(),
});

export const updateSchema = z.object({
  parallelism: z.number(),
  delaySeconds: z.number(),
  monitorSeconds: z.number(),
  failureAction: z.enum(['pause', 'continue', 'rollback']),
  maxFailureRatio: z.number(),
  order: z.enum(['stop-first', 'start-first']),
});

export const clusterResultSchema = z.object({
  cluster: z.string(),
  ok: z.boolean(),
  error: z.optional(z.string()),
  cause: z.optional(z.string()),
});

export const withCluster = z.object({ deployment: deploymentSchema, cluster: clusterSchema });
