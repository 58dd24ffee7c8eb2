import { createHash } from 'node:crypto';
import { parseEvent } from './event.js';
import type { Workflow } from './ports.js';

/** The most characters Step Functions allows in an execution name. */
export const MAX_EXECUTION_NAME = 80;

/**
 * The execution name of a push, which is also its deployment's id: a readable
 * `<repository>-<tag>` head (sanitised to A-Z a-z 0-9 - _, truncated), the digest's first 12 hex
 * digits, and 8 hex digits of SHA-256 over the exact "repository\ntag\ndigest", at most 80
 * characters. The same push (a redelivery) gets the same name, so Step Functions starts it once;
 * any other repository, tag or digest gets another name, even where sanitising makes the heads
 * equal (`a/b:1.0` and `a-b:1-0`), and the same digest pushed under a new tag deploys again.
 */
export function executionName(repository: string, tag: string, digest: string): string {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9_-]+/g, '-');
  const short = safe(digest.replace(/^sha256:/, '').slice(0, 12));
  const hash = createHash('sha256').update(`${repository}\n${tag}\n${digest}`).digest('hex').slice(0, 8);
  const tail = `-${short}-${hash}`;
  return `${safe(repository)}-${safe(tag)}`.slice(0, MAX_EXECUTION_NAME - tail.length).concat(tail);
}

export type StartOutcome =
  | { started: true; executionArn: string; name: string }
  | { started: false; name: string | null; reason: string };

/**
 * The EventBridge rule's target: starts the deployment workflow with the pushed image as its
 * execution name (see executionName; Plan makes it the deployment's id). Step Functions makes the
 * name the idempotency key: a redelivered event while the execution runs returns it, after it
 * ended is refused (ExecutionAlreadyExists): one deployment. Events that are not pushes (ignored,
 * failed pushes, malformed events) still start an execution, named by EventBridge's event id,
 * whose Plan records why it does not deploy, or fails with InvalidEventError.
 */
export async function startDeployment(
  workflow: Pick<Workflow, 'start'>,
  stateMachineArn: string,
  event: unknown,
  signal?: AbortSignal,
): Promise<StartOutcome> {
  const parsed = parseEvent(event);
  const id = (event as { id?: unknown } | null)?.id;
  const name =
    parsed.kind === 'push'
      ? executionName(parsed.repository, parsed.tag, parsed.digest)
      : `event-${String(id ?? Date.now()).replace(/[^A-Za-z0-9_-]+/g, '-')}`.slice(0, MAX_EXECUTION_NAME);
  const out = await workflow.start(stateMachineArn, name, event, signal);
  if (out.started) return { started: true, executionArn: out.executionArn, name };
  return {
    started: false,
    name,
    reason: `an execution named ${name} already exists: this push was delivered before`,
  };
}
