import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2WithIAMAuthorizer, APIGatewayProxyResultV2, Context } from 'aws-lambda';
import {
  act,
  deploymentView,
  isDeploymentAction,
  isServiceAction,
  listDeployments,
  OperatorError,
  redeploy,
} from '../lib/deploy/operator.js';
import { InvalidPageTokenError } from '../lib/deploy/record/history.js';
import { type ApiError, DEPLOYMENT_STATUSES, type DeploymentStatus } from '../lib/deploy/view.js';
import { logger, now, record, workflow } from '../lib/deps.js';
import { buildDeps } from '../lib/handler.js';

const json = (statusCode: number, body: unknown): APIGatewayProxyResultV2 => ({
  statusCode,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});
const problem = (statusCode: number, body: ApiError) => json(statusCode, body);

const ID = /^[A-Za-z0-9_-]{1,80}$/;
const SERVICE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const STATUSES: readonly DeploymentStatus[] = DEPLOYMENT_STATUSES;

class BadRequest extends Error {
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
  }
}

/** The JSON body: an object whose fields are all optional strings of bounded length. */
function bodyOf(event: APIGatewayProxyEventV2WithIAMAuthorizer, fields: Record<string, RegExp | number>) {
  if (!event.body) return {} as Record<string, string | undefined>;
  let body: unknown;
  try {
    body = JSON.parse(
      event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body,
    );
  } catch {
    throw new BadRequest('the body must be a JSON object, such as {"reason": "…"}', 'body');
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw new BadRequest('the body must be a JSON object, such as {"reason": "…"}', 'body');
  const out: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(body)) {
    const rule = fields[name];
    if (rule === undefined)
      throw new BadRequest(
        `body.${name} is not a field of this request (fields: ${Object.keys(fields).join(', ')})`,
        `body.${name}`,
      );
    if (typeof value !== 'string') throw new BadRequest(`body.${name} must be a string`, `body.${name}`);
    if (typeof rule === 'number' ? value.length > rule : !rule.test(value))
      throw new BadRequest(
        typeof rule === 'number'
          ? `body.${name} must be at most ${rule} characters`
          : `body.${name} is not valid`,
        `body.${name}`,
      );
    out[name] = value;
  }
  return out;
}

function listQuery(q: Record<string, string | undefined>) {
  const limit = q.limit === undefined ? 20 : Number(q.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100)
    throw new BadRequest('query.limit must be an integer from 1 to 100', 'query.limit');
  if (q.status !== undefined && !(STATUSES as readonly string[]).includes(q.status))
    throw new BadRequest(`query.status must be one of ${STATUSES.join(', ')}`, 'query.status');
  if (q.service !== undefined && !SERVICE.test(q.service))
    throw new BadRequest('query.service is not a service name', 'query.service');
  for (const name of Object.keys(q))
    if (!['limit', 'status', 'service', 'next'].includes(name))
      throw new BadRequest(
        `query.${name} is not a parameter (service, status, limit, next)`,
        `query.${name}`,
      );
  return {
    limit,
    ...(q.service ? { service: q.service } : {}),
    ...(q.status ? { status: q.status as DeploymentStatus } : {}),
    ...(q.next ? { next: q.next } : {}),
  };
}

/**
 * The HTTP API (IAM-authorised on every route): GET /deployments, GET /deployments/{id},
 * POST /deployments/{id}/{approve|reject|abort|promote|pause|resume},
 * POST /services/{name}/{undo|retry|apply}.
 * The caller is the signed identity's ARN, never a field of the body; it is recorded with every
 * action. Task tokens stay in the record. Powertools' injectLambdaContext puts the invocation's
 * context on every log line.
 */
export const handler = middy(
  async (
    event: APIGatewayProxyEventV2WithIAMAuthorizer,
    _context: Context,
    { signal }: { signal: AbortSignal },
  ): Promise<APIGatewayProxyResultV2> => {
    const caller = event.requestContext?.authorizer?.iam?.userArn;
    if (!caller) return problem(401, { message: 'the API needs IAM (SigV4) authentication' });
    const stateMachineArn = process.env.STATE_MACHINE_ARN ?? '';
    const deps = { ...buildDeps({ record, workflow, now }), stateMachineArn };
    const route = event.routeKey ?? '';
    const params = event.pathParameters ?? {};
    try {
      if (route === 'GET /deployments')
        return json(200, await listDeployments(deps, listQuery(event.queryStringParameters ?? {}), signal));

      if (route === 'GET /deployments/{id}') {
        const id = params.id ?? '';
        if (!ID.test(id)) throw new BadRequest(`"${id.slice(0, 100)}" is not a deployment id`, 'path.id');
        return json(200, await deploymentView(deps, id, signal));
      }

      if (route === 'POST /deployments/{id}/{action}') {
        const id = params.id ?? '';
        const action = params.action ?? '';
        if (!ID.test(id)) throw new BadRequest(`"${id.slice(0, 100)}" is not a deployment id`, 'path.id');
        if (!isDeploymentAction(action))
          return problem(404, {
            message: `no action "${action.slice(0, 40)}": use approve, reject, abort, promote, pause or resume`,
          });
        const { reason } = bodyOf(event, { reason: 500 });
        const result = await act(deps, id, action, caller, reason, signal);
        logger.info('operator action', { deploymentId: id, action, by: caller, outcome: result.outcome });
        return json(action === 'approve' || action === 'reject' ? 200 : 202, result);
      }

      if (route === 'POST /services/{name}/{action}') {
        const service = params.name ?? '';
        const action = params.action ?? '';
        if (!SERVICE.test(service))
          throw new BadRequest(`"${service.slice(0, 100)}" is not a service name`, 'path.name');
        if (!isServiceAction(action))
          return problem(404, {
            message: `no action "${action.slice(0, 40)}" on a service: use undo, retry or apply`,
          });
        const body = bodyOf(event, action === 'retry' ? { reason: 500, deploymentId: ID } : { reason: 500 });
        const started = await redeploy(
          deps,
          service,
          action,
          caller,
          {
            ...(body.reason ? { reason: body.reason } : {}),
            ...(body.deploymentId ? { deploymentId: body.deploymentId } : {}),
          },
          signal,
        );
        logger.info('operator redeploy', { service, action, by: caller, deploymentId: started.deploymentId });
        return json(202, started);
      }
      return problem(404, { message: `no route ${route.slice(0, 80)}` });
    } catch (err) {
      if (err instanceof BadRequest) return problem(400, { message: err.message, field: err.field });
      if (err instanceof InvalidPageTokenError)
        return problem(400, { message: `query.next: ${err.message}`, field: 'query.next' });
      if (err instanceof OperatorError)
        return problem(err.httpStatus, {
          message: err.message,
          ...(err.detail.status ? { status: err.detail.status } : {}),
          ...(err.detail.field ? { field: err.detail.field } : {}),
        });
      // `message` is a reserved key of Powertools' logger (it would be dropped).
      logger.error('api failed', { error: (err as Error).name, errorMessage: (err as Error).message });
      return problem(500, { message: `internal error (${(err as Error).name})` });
    }
  },
).use(injectLambdaContext(logger));
