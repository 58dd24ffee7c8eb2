import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2WithIAMAuthorizer, APIGatewayProxyResultV2, Context } from 'aws-lambda';
import { decide, NoPendingApprovalError } from '../lib/deploy/approval.js';
import { abortDeployment } from '../lib/deploy/steps/abort.js';
import { logger, record, workflow } from '../lib/deps.js';
import { buildDeps } from '../lib/handler.js';

const json = (statusCode: number, body: unknown): APIGatewayProxyResultV2 => ({
  statusCode,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

/**
 * The HTTP API (IAM-authorised): POST /deployments/{id}/approve | reject | abort, with an optional
 * JSON body {"reason": "…"}. The approver is the signed caller's ARN, never a field of the body.
 * Powertools' injectLambdaContext puts the invocation's context on every log line.
 */
export const handler = middy(
  async (
    event: APIGatewayProxyEventV2WithIAMAuthorizer,
    _context: Context,
    { signal }: { signal: AbortSignal },
  ): Promise<APIGatewayProxyResultV2> => {
    const deps = buildDeps({ record, workflow });
    const caller = event.requestContext?.authorizer?.iam?.userArn;
    if (!caller) return json(401, { message: 'the API needs IAM (SigV4) authentication' });
    const id = event.pathParameters?.id ?? '';
    const action = event.pathParameters?.action ?? '';
    if (!/^[A-Za-z0-9_-]{1,80}$/.test(id)) return json(400, { message: `"${id}" is not a deployment id` });
    let reason: string | undefined;
    try {
      const body = event.body
        ? (JSON.parse(
            event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body,
          ) as { reason?: unknown })
        : {};
      if (body.reason !== undefined && (typeof body.reason !== 'string' || body.reason.length > 500))
        return json(400, { message: 'reason must be a string of at most 500 characters' });
      reason = body.reason as string | undefined;
    } catch {
      return json(400, { message: 'the body must be JSON: {"reason": "…"}' });
    }
    try {
      if (action === 'approve' || action === 'reject') {
        const result = await decide(
          deps,
          { deploymentId: id, approver: caller, ...(reason ? { reason } : {}) },
          action,
          signal,
        );
        logger.info('decision', { deploymentId: id, decision: result.decision, approver: caller });
        return json(200, result);
      }
      if (action === 'abort') {
        const { interrupted } = await abortDeployment(
          deps,
          id,
          `aborted by ${caller}${reason ? `: ${reason}` : ''}`,
          signal,
        );
        logger.info('abort requested', { deploymentId: id, by: caller, interrupted });
        return json(202, { deploymentId: id, abort: 'requested', by: caller, interrupted });
      }
      return json(404, { message: `no action "${action}": use approve, reject or abort` });
    } catch (err) {
      if (err instanceof NoPendingApprovalError) return json(409, { message: err.message });
      // `message` is a reserved key of Powertools' logger (it would be dropped).
      logger.error('api failed', {
        error: (err as Error).name,
        errorMessage: (err as Error).message,
      });
      return json(500, { message: `internal error (${(err as Error).name})` });
    }
  },
).use(injectLambdaContext(logger));
