/**
 * `deployer watch`: polls GET /deployments/{id} and shows the deployment live. On a terminal the
 * tree (render.ts) is redrawn in place; elsewhere only the changes are printed, one line each; with
 * --json each new state is one JSON line. Ends when the deployment does: exit 0 when it succeeded,
 * 1 otherwise.
 */
import type { DeploymentView } from '../functions/lib/deploy/view.js';
import { type ApiClient, ApiRefusal, NetworkError } from './client.js';
import { EXIT, type Io, type Output } from './io.js';
import { diffViews, elapsedMs, formatDuration, isFinal, type RenderOptions, renderTree } from './render.js';

export interface WatchOptions {
  id?: string;
  service?: string;
  intervalMs: number;
  json?: boolean;
  /** Clock format of the change lines (default: local time). */
  clock?: RenderOptions['clock'];
  /** How long a deployment that is not recorded yet (404: queued for its lock) is waited for (default 5 min). */
  startTimeoutMs?: number;
  /** Polls that may fail in a row (network, 429, 5xx) before watch gives up. */
  maxFailures?: number;
}

const ESC = '\u001b[';

/** Redraws a block of lines in place: cursor up over the previous frame, erase to the end, write. */
export class Frame {
  private height = 0;
  constructor(private readonly out: Output) {}

  draw(lines: string[]): void {
    const width = Math.max(20, (this.out.columns ?? 120) - 1);
    // Lines wider than the terminal would wrap and break the cursor arithmetic: cut them.
    let cut = lines.map((l) => (l.length > width ? `${l.slice(0, width - 1)}…` : l));
    // So do frames taller than the terminal (the cursor cannot move above its top line).
    const rows = this.out.rows;
    if (rows !== undefined && rows > 2 && cut.length > rows - 1)
      cut = [...cut.slice(0, rows - 2), `… ${cut.length - (rows - 2)} more lines (deployer status for all)`];
    const up = this.height > 0 ? `${ESC}${this.height}A\r` : '';
    this.out.write(`${up}${ESC}0J${cut.join('\n')}\n`);
    this.height = cut.length;
  }
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Waits for the newest deployment of a service (one poll when it already has one). */
async function newestOf(client: ApiClient, service: string, io: Io, options: WatchOptions): Promise<string> {
  const sleep = io.sleep ?? defaultSleep;
  let told = false;
  for (;;) {
    const page = await client.listDeployments({ service, limit: 1 });
    const newest = page.items[0];
    if (newest) return newest.id;
    if (!told) io.stderr.write(`no deployment of ${service} yet: waiting for one…\n`);
    told = true;
    await sleep(options.intervalMs);
  }
}

export async function watch(client: ApiClient, io: Io, options: WatchOptions): Promise<number> {
  const now = io.now ?? (() => new Date());
  const sleep = io.sleep ?? defaultSleep;
  const id = options.id ?? (await newestOf(client, options.service as string, io, options));
  const tty = !options.json && io.stdout.isTTY === true;
  const frame = tty ? new Frame(io.stdout) : undefined;
  const renderOptions = (): RenderOptions => ({
    now: now(),
    ...(options.clock ? { clock: options.clock } : {}),
  });
  let prev: DeploymentView | undefined;
  let lastJson = '';
  let failures = 0;
  // A deployment queued behind its service's lock is not recorded yet (404): wait for it a while.
  const startBy = now().getTime() + (options.startTimeoutMs ?? 300_000);
  let queued = false;
  for (;;) {
    let view: DeploymentView;
    try {
      view = await client.getDeployment(id);
      failures = 0;
    } catch (err) {
      if (
        err instanceof ApiRefusal &&
        err.status === 404 &&
        prev === undefined &&
        now().getTime() < startBy
      ) {
        if (!queued) io.stderr.write(`${id} is not recorded yet (queued for its service's lock?): waiting\n`);
        queued = true;
        await sleep(options.intervalMs);
        continue;
      }
      const transient = err instanceof NetworkError || (err instanceof ApiRefusal && err.transient);
      failures += 1;
      if (!transient || failures >= (options.maxFailures ?? 5)) throw err;
      const note = `poll ${failures} failed: ${(err as Error).message} (retrying)`;
      if (frame && prev) frame.draw([...renderTree(prev, renderOptions()), note]);
      else io.stderr.write(`${note}\n`);
      await sleep(options.intervalMs);
      continue;
    }
    if (options.json) {
      const json = JSON.stringify(view);
      if (json !== lastJson) io.stdout.write(`${json}\n`);
      lastJson = json;
    } else if (frame) frame.draw(renderTree(view, renderOptions()));
    else {
      const lines = diffViews(prev, view, renderOptions());
      if (lines.length > 0) io.stdout.write(`${lines.join('\n')}\n`);
    }
    prev = view;
    if (isFinal(view.status)) {
      if (frame)
        io.stdout.write(`${view.id} ${view.status} after ${formatDuration(elapsedMs(view, now()))}\n`);
      return view.status === 'succeeded' ? EXIT.ok : EXIT.failed;
    }
    await sleep(options.intervalMs);
  }
}
