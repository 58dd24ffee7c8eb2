import { runSimulation, runUnsafeSimulation, type Simulation } from '@cloud-copilot/iam-simulate';
import { type Principal, type ResolvedPrincipal, resolvePrincipal } from './principals.js';

/**
 * Authorization of one request against the caller's identity-based policies with an IAM policy
 * simulator (@cloud-copilot/iam-simulate), in the account of the caller: no resource policy, no
 * SCP, no permission boundary, so a request is allowed exactly when a statement of the policies
 * allows it and none denies it. The request context gets the global condition keys AWS supplies
 * for the caller (aws:PrincipalArn, aws:userid, aws:PrincipalAccount, aws:PrincipalType,
 * aws:CurrentTime, aws:EpochTime, aws:SecureTransport, aws:RequestedRegion, aws:SourceIp…) and
 * the service's own keys the caller gives (ssm:resourceTag/…, kms:ViaService…).
 */

export interface AuthorizationRequest {
  /** `service:Action`, e.g. dynamodb:PutItem. */
  action: string;
  /** The resource ARN, or `*` for actions that take none. */
  resource: string;
  /** Service condition keys of this request (resource tags, ssm:SessionDocumentAccessCheck, …). */
  context?: Record<string, string | string[]>;
}

/** Where the request came from, for the global condition keys. */
export interface RequestEnvironment {
  now?: Date;
  /** aws:RequestedRegion: the region the request was signed for. */
  region?: string;
  /** aws:SourceIp. */
  sourceIp?: string;
  /** aws:SecureTransport (default false: the stand-in speaks plain HTTP). */
  secureTransport?: boolean;
}

export type EvaluationResult = 'Allowed' | 'ImplicitlyDenied' | 'ExplicitlyDenied';

export interface Decision {
  allowed: boolean;
  result: EvaluationResult;
  principalArn: string;
  action: string;
  resource: string;
  /** AWS's AccessDenied message for a denial. */
  message?: string;
  /** Why the simulator could not evaluate (an invalid policy, an unknown action): denied. */
  error?: string;
}

/** `User: <arn> is not authorized to perform: <action> on resource: <resource> because …`, as AWS says it. */
export function accessDeniedMessage(
  principalArn: string,
  action: string,
  resource: string,
  result: Exclude<EvaluationResult, 'Allowed'>,
  options: { actionAsShown?: string } = {},
): string {
  const shown = options.actionAsShown ?? action;
  const reason =
    result === 'ExplicitlyDenied'
      ? 'with an explicit deny in an identity-based policy'
      : `because no identity-based policy allows the ${shown} action`;
  return `User: ${principalArn} is not authorized to perform: ${shown} on resource: ${resource} ${reason}`;
}

/** The global condition keys AWS puts in the request context of this principal's calls. */
export function globalContext(
  principal: ResolvedPrincipal,
  environment: RequestEnvironment = {},
): Record<string, string> {
  const now = environment.now ?? new Date();
  const context: Record<string, string> = {
    'aws:PrincipalArn': principal.principalArn,
    'aws:userid': principal.userId,
    'aws:PrincipalAccount': principal.account,
    'aws:PrincipalType': principal.type,
    'aws:CurrentTime': now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    'aws:EpochTime': String(Math.floor(now.getTime() / 1000)),
    'aws:SecureTransport': String(environment.secureTransport ?? false),
    'aws:PrincipalIsAWSService': 'false',
    'aws:ViaAWSService': 'false',
  };
  if (principal.type === 'User') context['aws:username'] = principal.name;
  if (environment.region !== undefined) context['aws:RequestedRegion'] = environment.region;
  if (environment.sourceIp !== undefined)
    context['aws:SourceIp'] = environment.sourceIp.replace(/^::ffff:/, '');
  return context;
}

/** Keys whose values change on every request: a policy using one is never served from the cache. */
const TIME_KEYS = /aws:(currenttime|epochtime|tokenissuetime|multifactorauthage)/i;

/**
 * Evaluates requests for principals; identical requests (same principal, policy version, action,
 * resource and context but the clock) are answered from a bounded cache, unless the policies
 * look at the time.
 */
export class Authorizer {
  private readonly cache = new Map<string, Omit<Decision, 'message'> & { message?: string }>();
  private readonly cacheSize: number;
  private readonly log: (message: string) => void;

  constructor(options: { cacheSize?: number; log?: (message: string) => void } = {}) {
    this.cacheSize = options.cacheSize ?? 10_000;
    this.log = options.log ?? (() => {});
  }

  async authorize(
    principal: ResolvedPrincipal,
    request: AuthorizationRequest,
    environment: RequestEnvironment = {},
  ): Promise<Decision> {
    const cacheable = !TIME_KEYS.test(JSON.stringify(principal.policies));
    const key = cacheable ? cacheKey(principal, request, environment) : undefined;
    const cached = key === undefined ? undefined : this.cache.get(key);
    if (cached !== undefined) {
      // Refresh its place in the LRU order.
      this.cache.delete(key as string);
      this.cache.set(key as string, cached);
      return { ...cached };
    }
    const decision = await evaluate(principal, request, environment);
    if (decision.error !== undefined)
      this.log(`iam: ${decision.action} on ${decision.resource}: ${decision.error}`);
    if (key !== undefined) {
      this.cache.set(key, decision);
      if (this.cache.size > this.cacheSize) {
        const oldest = this.cache.keys().next().value;
        if (oldest !== undefined) this.cache.delete(oldest);
      }
    }
    return { ...decision };
  }

  clearCache(): void {
    this.cache.clear();
  }
}

const shared = new Authorizer();

/** Authorizes one request of `principal` (a shared cache behind it). */
export function authorize(
  principal: Principal | ResolvedPrincipal,
  request: AuthorizationRequest,
  environment: RequestEnvironment = {},
): Promise<Decision> {
  const resolved = 'principalArn' in principal ? principal : resolvePrincipal(principal);
  return shared.authorize(resolved as ResolvedPrincipal, request, environment);
}

function cacheKey(
  principal: ResolvedPrincipal,
  request: AuthorizationRequest,
  environment: RequestEnvironment,
): string {
  const context = Object.entries(request.context ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([
    principal.accessKeyId,
    principal.arn,
    principal.policyVersion,
    request.action,
    request.resource,
    context,
    environment.region ?? null,
    environment.sourceIp ?? null,
    environment.secureTransport ?? false,
  ]);
}

/** An ARN whose account field is empty (AWS-owned SSM documents) or that the validating simulator cannot type. */
function needsUnsafeSimulation(resource: string): boolean {
  return /^arn:[^:]+:[^:]+:[^:]*::/.test(resource) || /^arn:[^:]+:kms:[^:]*:[^:]*:alias\//.test(resource);
}

/** The default key policy of a KMS key: the account's IAM policies decide who may use the key. */
function defaultKeyPolicy(partition: string, account: string): object {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'Enable IAM User Permissions',
        Effect: 'Allow',
        Principal: { AWS: `arn:${partition}:iam::${account}:root` },
        Action: 'kms:*',
        Resource: '*',
      },
    ],
  };
}

async function evaluate(
  principal: ResolvedPrincipal,
  request: AuthorizationRequest,
  environment: RequestEnvironment,
): Promise<Decision> {
  const base = { principalArn: principal.arn, action: request.action, resource: request.resource };
  const simulation: Simulation = {
    request: {
      principal: principal.arn,
      action: request.action,
      resource: {
        resource: request.resource,
        accountId: request.resource.split(':')[4] || principal.account,
      },
      contextVariables: { ...globalContext(principal, environment), ...request.context },
    },
    identityPolicies: principal.policies.map((policy, index) => ({ name: `policy-${index + 1}`, policy })),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    // A KMS key is usable only as its key policy allows: the default one delegates to IAM policies.
    ...(/^arn:[^:]+:kms:/.test(request.resource)
      ? {
          resourcePolicy: defaultKeyPolicy(
            request.resource.split(':')[1] as string,
            request.resource.split(':')[4] || principal.account,
          ),
        }
      : {}),
  };
  let result: string;
  let error: string | undefined;
  try {
    if (needsUnsafeSimulation(request.resource)) {
      result = runUnsafeSimulation(simulation, {});
    } else {
      const out = await runSimulation(simulation, {});
      if (out.resultType === 'error') {
        result = 'ImplicitlyDenied';
        error = `the simulator could not evaluate the request: ${JSON.stringify(out.errors)}`;
      } else {
        result = out.overallResult;
      }
    }
  } catch (thrown) {
    result = 'ImplicitlyDenied';
    error = `the simulator failed: ${thrown instanceof Error ? thrown.message : String(thrown)}`;
  }
  if (result === 'Allowed') return { ...base, allowed: true, result: 'Allowed' };
  const denied: Exclude<EvaluationResult, 'Allowed'> =
    result === 'ExplicitlyDenied' ? 'ExplicitlyDenied' : 'ImplicitlyDenied';
  return {
    ...base,
    allowed: false,
    result: denied,
    message: accessDeniedMessage(principal.arn, request.action, request.resource, denied),
    ...(error === undefined ? {} : { error }),
  };
}
