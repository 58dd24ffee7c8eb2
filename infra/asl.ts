/**
 * The workflow definition: statemachines/deploy.asl.json with every `${<Name>FunctionArn}` replaced
 * by the function's ARN. Pure: a placeholder without an ARN, or an ARN no placeholder uses, throws
 * before anything is created.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const ASL_PATH = fileURLToPath(new URL('../statemachines/deploy.asl.json', import.meta.url));

const PLACEHOLDER = /\$\{([A-Za-z0-9]+)\}/g;

/** The definition template as it is in the repository. */
export function readAslTemplate(path = ASL_PATH): string {
  return readFileSync(path, 'utf8');
}

/** The placeholder names of a template (`PlanFunctionArn`, …), each once, sorted. */
export function aslPlaceholders(template: string): string[] {
  return [...new Set([...template.matchAll(PLACEHOLDER)].map((m) => m[1] as string))].sort();
}

/** An ASL template whose placeholders and the ARNs given do not match one to one. */
export class AslRenderError extends Error {
  override readonly name = 'AslRenderError';
}

/**
 * Checks that `names` are exactly the template's placeholders (every one is `<Name>FunctionArn`).
 * @throws AslRenderError naming the missing and the unused ones
 */
export function checkAslPlaceholders(template: string, names: readonly string[]): void {
  const used = aslPlaceholders(template);
  const given = new Set(names);
  const missing = used.filter((n) => !given.has(n));
  const unused = [...given].filter((n) => !used.includes(n)).sort();
  const malformed = used.filter((n) => !n.endsWith('FunctionArn'));
  const problems = [
    missing.length ? `no ARN for placeholder(s) ${missing.map((n) => `\${${n}}`).join(', ')}` : '',
    unused.length ? `no placeholder uses ${unused.join(', ')}` : '',
    malformed.length ? `placeholder(s) not named <Name>FunctionArn: ${malformed.join(', ')}` : '',
  ].filter(Boolean);
  if (problems.length) throw new AslRenderError(`state machine definition: ${problems.join('; ')}`);
}

/**
 * Renders the definition with `arns` (placeholder name → ARN) and checks the result is JSON.
 * @throws AslRenderError on a missing or unused placeholder, or a result that is not JSON
 */
export function renderAsl(template: string, arns: Readonly<Record<string, string>>): string {
  checkAslPlaceholders(template, Object.keys(arns));
  const out = template.replace(PLACEHOLDER, (_, name: string) => arns[name] as string);
  try {
    JSON.parse(out);
  } catch (err) {
    throw new AslRenderError(`state machine definition is not JSON once rendered: ${(err as Error).message}`);
  }
  return out;
}

/** `promote-cluster` → `PromoteClusterFunctionArn`. */
export function placeholderFor(handler: string): string {
  return `${handler
    .split('-')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('')}FunctionArn`;
}

/**
 * The TimeoutSeconds of the Task states that invoke each placeholder's function (the largest when
 * several states call it): a function's own timeout should match the state's.
 */
export function taskTimeouts(template: string): Record<string, number> {
  const out: Record<string, number> = {};
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const n of node) visit(n);
      return;
    }
    if (typeof node !== 'object' || node === null) return;
    const state = node as Record<string, unknown>;
    if (state.Type === 'Task' && typeof state.TimeoutSeconds === 'number') {
      const params = state.Parameters as Record<string, unknown> | undefined;
      const ref = [state.Resource, params?.FunctionName].find((r) => typeof r === 'string') as
        | string
        | undefined;
      const name = ref ? /^\$\{([A-Za-z0-9]+)\}$/.exec(ref)?.[1] : undefined;
      if (name) out[name] = Math.max(out[name] ?? 0, state.TimeoutSeconds);
    }
    for (const v of Object.values(state)) visit(v);
  };
  visit(JSON.parse(template));
  return out;
}
