/**
 * The Lambda handlers the program deploys: one per file in functions/handlers, bundled by
 * `npm run build` into dist/functions/<handler>/index.mjs.
 */
import { fileURLToPath } from 'node:url';

import type { HandlerName } from './permissions.js';

export { HANDLERS } from './permissions.js';
export type Handler = HandlerName;

/**
 * Handlers that start, describe or stop executions of the workflow (what their roles allow). Every
 * function gets STATE_MACHINE_ARN, for the console links of the alerts it sends.
 */
export const NEEDS_STATE_MACHINE: readonly Handler[] = [
  'start-deployment',
  'reap-execution',
  'api',
  'acquire-lock',
];

/** Handlers the workflow does not call (the rules and the HTTP API do): no placeholder in the ASL. */
export const OUTSIDE_WORKFLOW: readonly Handler[] = [
  'start-deployment',
  'reap-execution',
  'refresh-registry-auth',
  'api',
];

/** Where `npm run build` writes the bundles. */
export const DIST_DIR = fileURLToPath(new URL('../dist/functions', import.meta.url));
