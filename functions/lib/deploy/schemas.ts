import { z } from 'zod';

/** Schemas of the handlers' inputs: what each state's Parameters hand over (see deploy.asl.json). */

export const deploymentSchema = z.looseObject({
  id: z.string().min(1),
  policy: z.string(),
  service: z.string().min(1),
  repository: z.string(),
  tag: z.string(),
  digest: z.string().regex(/^sha256:[a-f0-9]{64}$/),
  /** The registry the image was pushed to; absent in plans made before it was recorded. */
  registry: z.looseObject({ account: z.string().regex(/^\d{12}$/), region: z.string().min(1) }).optional(),
  image: z.string().includes('@sha256:'),
  eventId: z.string(),
  plannedAt: z.string(),
});

export const clusterSchema = z.looseObject({
  name: z.string().min(1),
  region: z.string(),
  target: z.string().min(1),
  engine: z.looseObject({
    port: z.number().int(),
    document: z.string(),
    tlsParameter: z.string().optional(),
  }),
  prometheus: z.union([z.looseObject({ url: z.string() }), z.looseObject({ tunnelPort: z.number().int() })]),
  minEngineVersion: z.string(),
  unreachableSeconds: z.number().int().positive().optional(),
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
  error: z.string().optional(),
  cause: z.string().optional(),
});

export const withCluster = z.object({ deployment: deploymentSchema, cluster: clusterSchema });
