import * as z from '../zod.js';

/** The `source` of an operator's request to deploy a digest again (undo, retry, apply) via the workflow. */
export const OPERATOR_SOURCE = 'swarm-deployer.operator';

/**
 * The execution input the API starts for `POST /services/{name}/undo`, `/retry` and `/apply`:
 * shaped like an EventBridge event so that the workflow's Plan reads it beside ECR's pushes. The
 * digest is verified against the registry again by Plan, and the policy must still deploy its
 * repository. An apply deploys the digest the service's latest successful deployment deployed,
 * under the policy as it is now (its spec), and names that deployment as `of`.
 */
export const operatorRequestSchema = z.object({
  source: z.literal(OPERATOR_SOURCE),
  'detail-type': z.literal('Redeploy Requested'),
  id: z.string().check(z.minLength(1), z.maxLength(80)),
  time: z.string(),
  detail: z.object({
    trigger: z.enum(['undo', 'retry', 'apply']),
    policy: z.string().check(z.minLength(1)),
    repository: z.string().check(z.minLength(1)),
    tag: z.string().check(z.minLength(1)),
    digest: z.string().check(z.regex(/^sha256:[a-f0-9]{64}$/, 'not a sha256 digest')),
    registry: z.object({
      account: z.string().check(z.regex(/^\d{12}$/, 'not a 12-digit account id')),
      region: z.string().check(z.minLength(1)),
    }),
    /**
     * The deployment whose digest is restored (undo), deployed again (retry), or deployed again
     * under the current policy (apply: the service's latest successful deployment).
     */
    of: z.string().check(z.minLength(1)),
    /** The caller's IAM ARN. */
    requestedBy: z.string().check(z.minLength(1)),
    reason: z.optional(z.string().check(z.maxLength(500))),
  }),
});

export type OperatorRequest = z.output<typeof operatorRequestSchema>;

/** True when the input says it is an operator's request, whatever else it holds. */
export function claimsOperatorRequest(event: unknown): boolean {
  return (event as { source?: unknown } | null)?.source === OPERATOR_SOURCE;
}
