import { Engine } from '../../../functions/lib/swarm/engine.js';
import { type ProgressInput, progress } from '../../../functions/lib/swarm/operations.js';
import type { Progress } from '../../../functions/lib/swarm/types.js';
import type { ClusterStatus } from '../../../local/fleet/fleet.js';

export const engineFor = (c: ClusterStatus) =>
  Engine.connect({ cluster: c.name, socketPath: c.dockerHost.replace('unix://', '') });

/** Polls Progress as the workflow's Wait loop does, until it is no longer "progressing". */
export async function settle(engine: Engine, input: ProgressInput, timeoutMs = 60_000): Promise<Progress> {
  const deadline = Date.now() + timeoutMs;
  let p = await progress(engine, input);
  while (p.verdict === 'progressing' && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
    p = await progress(engine, input);
  }
  return p;
}
