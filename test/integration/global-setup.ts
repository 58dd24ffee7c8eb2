import { up } from '../../local/fleet/fleet.js';

/**
 * Brings up the shared 3-cluster fleet once for the integration run (idempotent: a healthy fleet is
 * reused). It is left running for the next run; `.ci/run` and `npm run fleet -- down` remove it.
 * A missing engine or Prometheus fails here, loudly: integration tests never skip themselves.
 */
export default async function setup(): Promise<void> {
  await up({ clusters: 3 }, (line) => process.stderr.write(`[fleet] ${line}\n`));
}
