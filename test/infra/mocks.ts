/**
 * Pulumi mocks for the infra tests (local/twin/pulumi-mocks.ts, with the tests' account and region).
 * One stack configuration per test file: Pulumi's mocks are process-wide.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installMocks as install, type Recording } from '../../local/twin/pulumi-mocks.js';

export {
  ofType,
  one,
  PROJECT,
  type Recorded,
  type Recording,
  resolve,
  SECRET_SIG,
  SECRET_VALUE_SIG,
  settle,
  unwrap,
} from '../../local/twin/pulumi-mocks.js';

export const STACK = 'test';
export const REGION = 'eu-west-1';
export const ACCOUNT = '123456789012';
export const API_ID = 'a1b2c3d4e5';
export const AMI = 'ami-0123456789abcdef0';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DIST = join(ROOT, 'dist', 'functions');

/** Builds the bundles when any is missing (the program refuses to run without them). */
export function ensureBundles(handlers: readonly string[]): void {
  if (handlers.every((h) => existsSync(join(DIST, h, 'index.mjs')))) return;
  execFileSync(process.execPath, ['functions/build.mjs'], { cwd: ROOT, stdio: 'inherit' });
}

/**
 * Sets the stack configuration (`key` → value; non-strings as JSON, keys without a namespace get
 * the project's) and the mocks. Call once per file, before importing the program.
 */
export function installMocks(config: Record<string, unknown>, secretKeys: string[] = []): Recording {
  return install(
    { stack: STACK, region: REGION, account: ACCOUNT, apiId: API_ID, ami: AMI },
    config,
    secretKeys,
  );
}
