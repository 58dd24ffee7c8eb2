import type * as pulumi from '@pulumi/pulumi';

/** A component's arguments that cannot make a working deployment; thrown before any child exists. */
export class ComponentArgsError extends Error {
  override readonly name = 'ComponentArgsError';
}

/** Throws one error listing every failed check, naming the component and the argument. */
export function requireArgs(component: string, checks: Array<[ok: boolean, problem: string]>): void {
  const failed = checks.filter(([ok]) => !ok).map(([, problem]) => problem);
  if (failed.length) throw new ComponentArgsError(`${component}: ${failed.join('; ')}`);
}

/** The account, region and partition the stack deploys to. */
export interface Identity {
  partition: pulumi.Input<string>;
  region: string;
  account: pulumi.Input<string>;
}

/** A JSON policy document whose statements may hold outputs. */
export const assumeRolePolicy = (service: string) =>
  JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Principal: { Service: service }, Action: 'sts:AssumeRole' }],
  });
