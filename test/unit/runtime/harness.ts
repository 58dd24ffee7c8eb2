import { readFileSync } from 'node:fs';
import type { WorkflowEngine } from '../../../local/runtime/workflow/index.js';

/** `${Name}`: a DefinitionSubstitutions placeholder (written so, not as a plain string, for the linter). */
export const placeholder = (name: string) => `\${${name}}`;

/** The function ARN the ASL's `${…FunctionArn}` placeholders are rendered with. */
export const fnArn = (name: string) => `arn:aws:lambda:us-east-1:000000000000:function:${name}`;

export const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');

/** A typed error the way the project's handlers throw them: the name is the ASL contract. */
export class NamedError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

/** Resolves once `check` holds, polling every 5 ms. */
export async function until(check: () => boolean, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Event types of an execution's history, in order. */
export async function historyTypes(engine: WorkflowEngine, executionArn: string): Promise<string[]> {
  const { events } = await engine.getExecutionHistory({ executionArn, maxResults: 1000 });
  return events.map((e) => e.type as string);
}

/** A one-state machine around one Task definition. */
export function singleTask(task: Record<string, unknown>, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    StartAt: 'Work',
    States: { Work: { Type: 'Task', End: true, ...task }, ...extra },
  });
}
