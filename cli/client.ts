/**
 * The operators' API as the CLI calls it: every request signed with SigV4 (service execute-api),
 * answers parsed as the contract in functions/lib/deploy/view.ts says, refusals turned into errors
 * whose message is the API's own (with the deployment's status for a 409 and the field for a 400).
 */
import type { AwsCredentialIdentity } from '@smithy/types';
import type {
  ActionResult,
  ApiError,
  DeploymentActionName,
  DeploymentPage,
  DeploymentStatus,
  DeploymentSummary,
  DeploymentView,
  StartedResult,
} from '../functions/lib/deploy/view.js';
import { signedFetch } from '../local/apigw/client.js';
import { CliError, EXIT } from './io.js';

export interface Target {
  /** The API's invoke URL (with its stage path, if any). */
  url: string;
  region: string;
  credentials: () => Promise<AwsCredentialIdentity>;
  /** What the target is, for messages: "the local twin", "stack dev", "https://…". */
  describe: string;
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  410: 'Gone',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** The API refused or failed a request: `status` is the HTTP status, `body` its ApiError. */
export class ApiRefusal extends CliError {
  override readonly name = 'ApiRefusal';
  constructor(
    readonly method: string,
    readonly url: string,
    readonly status: number,
    readonly body: ApiError,
  ) {
    // A malformed request (400) is a usage error; every other refusal is the API saying no.
    super(describeRefusal(status, body), status === 400 ? EXIT.usage : EXIT.failed);
  }

  /** Worth asking again (watch keeps polling): throttled or a server-side failure. */
  get transient(): boolean {
    return this.status === 429 || this.status >= 500;
  }
}

/** The API could not be reached at all. */
export class NetworkError extends CliError {
  override readonly name = 'NetworkError';
  readonly transient = true;
}

function describeRefusal(status: number, body: ApiError): string {
  const head = `${status} ${REASONS[status] ?? 'Error'}: ${body.message}`;
  if (status === 409 && body.status) return `${head} (deployment status: ${body.status})`;
  if (status === 400 && body.field) return `${head} (field ${body.field})`;
  if (status === 403)
    return `${head} (the request was signed, but the API refused it: are these credentials allowed to call it, and is this the right target?)`;
  return head;
}

function causeOf(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message;
}

export class ApiClient {
  constructor(readonly target: Target) {}

  /** GET path?query, parsed JSON. */
  get<T>(path: string, query: Record<string, string | number | undefined> = {}): Promise<T> {
    const q = Object.entries(query)
      .filter(([, v]) => v !== undefined && v !== '')
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
      .join('&');
    return this.request<T>('GET', q ? `${path}?${q}` : path).then((r) => r.body);
  }

  post<T>(path: string, body: object): Promise<{ status: number; body: T }> {
    return this.request<T>('POST', path, JSON.stringify(body));
  }

  async request<T>(method: string, path: string, body?: string): Promise<{ status: number; body: T }> {
    const url = `${this.target.url.replace(/\/+$/, '')}${path}`;
    let credentials: AwsCredentialIdentity;
    try {
      credentials = await this.target.credentials();
    } catch (err) {
      throw new CliError(
        `no AWS credentials to sign requests to ${this.target.describe}: ${(err as Error).message} (configure the default credential chain: AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, SSO, an instance role)`,
      );
    }
    let res: { status: number; text: string; headers: Headers };
    try {
      res = await signedFetch(url, {
        method,
        region: this.target.region,
        service: 'execute-api',
        credentials: {
          accessKeyId: credentials.accessKeyId,
          secretAccessKey: credentials.secretAccessKey,
          ...(credentials.sessionToken ? { sessionToken: credentials.sessionToken } : {}),
        },
        headers: {
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body }),
      });
    } catch (err) {
      throw new NetworkError(`cannot reach ${url}: ${causeOf(err)}`);
    }
    let parsed: unknown;
    try {
      parsed = res.text === '' ? undefined : JSON.parse(res.text);
    } catch {
      parsed = undefined;
    }
    if (res.status >= 400) {
      const message =
        typeof (parsed as ApiError | undefined)?.message === 'string'
          ? (parsed as ApiError).message
          : res.text.trim().slice(0, 200) || `no body (${method} ${url})`;
      throw new ApiRefusal(method, url, res.status, { ...(parsed as object), message } as ApiError);
    }
    if (parsed === undefined)
      throw new CliError(
        `${method} ${url} answered ${res.status} without a JSON body: ${res.text.slice(0, 200)}`,
      );
    return { status: res.status, body: parsed as T };
  }

  listDeployments(q: { service?: string; status?: DeploymentStatus; limit?: number; next?: string }) {
    return this.get<DeploymentPage>('/deployments', q);
  }

  /** Every page of GET /deployments, following `next` until the last. */
  async allDeployments(q: { service?: string; status?: DeploymentStatus; limit?: number }) {
    const items: DeploymentSummary[] = [];
    const seen = new Set<string>();
    let next: string | undefined;
    do {
      const page = await this.listDeployments({ ...q, ...(next ? { next } : {}) });
      items.push(...page.items);
      next = page.next;
      if (next && seen.has(next)) throw new CliError(`the API returned the page token ${next} twice`);
      if (next) seen.add(next);
    } while (next);
    return items;
  }

  getDeployment(id: string) {
    return this.get<DeploymentView>(`/deployments/${encodeURIComponent(id)}`);
  }

  act(id: string, action: DeploymentActionName, reason?: string) {
    return this.post<ActionResult>(
      `/deployments/${encodeURIComponent(id)}/${action}`,
      reason === undefined ? {} : { reason },
    );
  }

  undo(service: string, reason?: string) {
    return this.post<StartedResult>(
      `/services/${encodeURIComponent(service)}/undo`,
      reason === undefined ? {} : { reason },
    );
  }

  retry(service: string, deploymentId?: string, reason?: string) {
    return this.post<StartedResult>(`/services/${encodeURIComponent(service)}/retry`, {
      ...(deploymentId === undefined ? {} : { deploymentId }),
      ...(reason === undefined ? {} : { reason }),
    });
  }

  /** Deploys the service's current digest again under its policy as it is now (a spec-only change). */
  apply(service: string, reason?: string) {
    return this.post<StartedResult>(
      `/services/${encodeURIComponent(service)}/apply`,
      reason === undefined ? {} : { reason },
    );
  }
}
