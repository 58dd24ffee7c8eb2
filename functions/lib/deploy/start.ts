import { type SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { parseEvent } from './event.js';

/**
 * The execution name of a push: repository, tag and the digest's first 12 hex digits, sanitised
 * to what Step Functions accepts (A-Z a-z 0-9 - _, at most 80 characters), so that the console
 * says which image each execution deploys.
 */
export function executionName(repository: string, tag: string, digest: string): string {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9_-]+/g, '-');
  const short = digest.replace(/^sha256:/, '').slice(0, 12);
  return `${safe(repository)}-${safe(tag)}`.slice(0, 80 - short.length - 1).concat(`-${short}`);
}

export type StartOutcome =
  | { started: true; executionArn: string; name: string }
  | { started: false; name: string | null; reason: string };

/**
 * The EventBridge rule's target: starts the deployment workflow with the pushed image as its
 * execution name. Step Functions makes the name the idempotency key: a redelivered event while the
 * execution runs returns it, after it ended is refused (ExecutionAlreadyExists): one deployment.
 * Events that are not pushes still start an execution (named by EventBridge's event id), whose Plan
 * records why it is ignored.
 */
export async function startDeployment(
  sfn: SFNClient,
  stateMachineArn: string,
  event: unknown,
  signal?: AbortSignal,
): Promise<StartOutcome> {
  const parsed = parseEvent(event);
  const id = (event as { id?: unknown } | null)?.id;
  const name =
    parsed.kind === 'push'
      ? executionName(parsed.repository, parsed.tag, parsed.digest)
      : `event-${String(id ?? Date.now()).replace(/[^A-Za-z0-9_-]+/g, '-')}`.slice(0, 80);
  try {
    const out = await sfn.send(
      new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(event) }),
      { abortSignal: signal },
    );
    return { started: true, executionArn: out.executionArn as string, name };
  } catch (err) {
    if ((err as Error).name === 'ExecutionAlreadyExists') {
      return {
        started: false,
        name,
        reason: `an execution named ${name} already exists: this push was delivered before`,
      };
    }
    throw err;
  }
}
