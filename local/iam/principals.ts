import { createHash, randomBytes } from 'node:crypto';

/**
 * The callers the AWS stand-in knows: one entry per access key it issued, with the identity that
 * key stands for (an IAM role session, as a Lambda function's execution role gives, or an IAM
 * user) and that identity's identity-based policies. The stand-in verifies SigV4 signatures with
 * the secret and authorizes every call against the policies (local/iam/authorize.ts).
 */

/** An IAM policy document (identity-based): `{ Version, Statement: [...] }`. */
export interface PolicyDocument {
  Version?: string;
  Id?: string;
  Statement: unknown;
}

export interface Principal {
  accessKeyId: string;
  secretAccessKey: string;
  /** With temporary credentials, the token every request must carry (X-Amz-Security-Token). */
  sessionToken?: string;
  /**
   * The caller's ARN as AWS reports it in errors and as aws:PrincipalArn is derived from:
   * `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION` for a role session,
   * `arn:aws:iam::ACCOUNT:user/NAME` for a user.
   */
  arn: string;
  /**
   * aws:userid: `ROLEID:SESSION` for a role session (the role's unique id, AROA…), the user's
   * unique id (AIDA…) for a user. Derived from the ARN when left out.
   */
  userId?: string;
  /** The caller's account (default: the ARN's). */
  account?: string;
  /** The identity-based policies of the role or user. */
  policies: PolicyDocument[];
}

/** A principal with every derived field filled in. */
export interface ResolvedPrincipal extends Required<Omit<Principal, 'sessionToken'>> {
  sessionToken?: string;
  /** `AssumedRole` or `User` (aws:PrincipalType). */
  type: 'AssumedRole' | 'User';
  /** The role ARN for a role session (aws:PrincipalArn), the user ARN for a user. */
  principalArn: string;
  /** The role session name (assumed roles) or the user name. */
  name: string;
  /** Bumped on every change of the policies (decision caches key on it). */
  policyVersion: number;
}

const ASSUMED_ROLE = /^arn:([^:]+):sts::(\d{12}):assumed-role\/(?:[^/]+\/)*([^/]+)\/([^/]+)$/;
const USER = /^arn:([^:]+):iam::(\d{12}):user\/(?:[^/]+\/)*([^/]+)$/;

/** Fills in the derived fields. @throws Error when the ARN is neither a role session nor a user. */
export function resolvePrincipal(principal: Principal, policyVersion = 0): ResolvedPrincipal {
  const role = ASSUMED_ROLE.exec(principal.arn);
  const user = role === null ? USER.exec(principal.arn) : null;
  if (role === null && user === null) {
    throw new Error(
      `principal ${principal.arn}: the ARN must be an assumed-role session (arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION) or a user (arn:aws:iam::ACCOUNT:user/NAME)`,
    );
  }
  if (!principal.accessKeyId || !principal.secretAccessKey) {
    throw new Error(`principal ${principal.arn}: an access key id and a secret are required`);
  }
  const [, partition, account, roleOrUser, session] = (role ?? user) as RegExpExecArray;
  const type = role === null ? 'User' : 'AssumedRole';
  const name = (type === 'AssumedRole' ? session : roleOrUser) as string;
  const rolePath = type === 'AssumedRole' ? roleArnOf(principal.arn) : principal.arn;
  return {
    accessKeyId: principal.accessKeyId,
    secretAccessKey: principal.secretAccessKey,
    ...(principal.sessionToken === undefined ? {} : { sessionToken: principal.sessionToken }),
    arn: principal.arn,
    userId:
      principal.userId ??
      (type === 'AssumedRole'
        ? `${uniqueId('AROA', `${partition}:${account}:${roleOrUser}`)}:${name}`
        : uniqueId('AIDA', `${partition}:${account}:${name}`)),
    account: principal.account ?? (account as string),
    policies: principal.policies,
    type,
    principalArn: rolePath,
    name,
    policyVersion,
  };
}

/** The role ARN of a role session ARN (paths are not in session ARNs, so none is given). */
function roleArnOf(sessionArn: string): string {
  const match = ASSUMED_ROLE.exec(sessionArn) as RegExpExecArray;
  return `arn:${match[1]}:iam::${match[2]}:role/${match[3]}`;
}

/** A stable IAM-style unique id (AROA… / AIDA…, 21 characters) for a name. */
function uniqueId(prefix: string, seed: string): string {
  const digest = createHash('sha256').update(seed).digest();
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let out = prefix;
  for (let i = 0; out.length < 21; i++) out += alphabet[(digest[i] as number) % alphabet.length];
  return out;
}

/**
 * A role session principal with fresh credentials, as STS AssumeRole (or Lambda, for a function's
 * execution role) would give: `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`.
 */
export function rolePrincipal(options: {
  account: string;
  roleName: string;
  /** The role session name (a Lambda's is its function name); default the role name. */
  sessionName?: string;
  policies: PolicyDocument[];
  partition?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  userId?: string;
}): Principal {
  const partition = options.partition ?? 'aws';
  const session = options.sessionName ?? options.roleName;
  return {
    accessKeyId: options.accessKeyId ?? `ASIA${randomBytes(8).toString('hex').toUpperCase()}`,
    secretAccessKey: options.secretAccessKey ?? randomBytes(30).toString('base64'),
    ...(options.sessionToken === undefined ? {} : { sessionToken: options.sessionToken }),
    arn: `arn:${partition}:sts::${options.account}:assumed-role/${options.roleName}/${session}`,
    ...(options.userId === undefined ? {} : { userId: options.userId }),
    account: options.account,
    policies: options.policies,
  };
}

/** The principals by access key id; policies can be replaced while the stand-in runs. */
export class PrincipalRegistry {
  private readonly byKey = new Map<string, ResolvedPrincipal>();
  private version = 0;

  constructor(principals: Iterable<Principal> = []) {
    for (const principal of principals) this.add(principal);
  }

  /** Adds (or replaces) a principal. @throws Error when its ARN or keys are unusable. */
  add(principal: Principal): ResolvedPrincipal {
    const resolved = resolvePrincipal(principal, ++this.version);
    this.byKey.set(resolved.accessKeyId, resolved);
    return resolved;
  }

  remove(accessKeyId: string): boolean {
    return this.byKey.delete(accessKeyId);
  }

  get(accessKeyId: string): ResolvedPrincipal | undefined {
    return this.byKey.get(accessKeyId);
  }

  list(): ResolvedPrincipal[] {
    return [...this.byKey.values()];
  }

  /** Replaces the identity-based policies of a principal; takes effect on its next call. */
  setPolicies(accessKeyId: string, policies: PolicyDocument[]): void {
    const principal = this.byKey.get(accessKeyId);
    if (principal === undefined) throw new Error(`no principal has the access key ${accessKeyId}`);
    this.byKey.set(accessKeyId, { ...principal, policies, policyVersion: ++this.version });
  }

  /** For verifySigV4: the secret (and session token) of an access key. */
  readonly lookupSecret = (
    accessKeyId: string,
  ): { secretAccessKey: string; sessionToken?: string } | undefined => {
    const principal = this.byKey.get(accessKeyId);
    if (principal === undefined) return undefined;
    return principal.sessionToken === undefined
      ? { secretAccessKey: principal.secretAccessKey }
      : { secretAccessKey: principal.secretAccessKey, sessionToken: principal.sessionToken };
  };
}
