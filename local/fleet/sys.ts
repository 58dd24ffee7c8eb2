import { execFile, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { delimiter } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** PATH plus the sbin directories a non-login root shell may lack (dockerd and ip live there). */
export const defaultSearchPath = () =>
  [process.env.PATH ?? '', '/usr/local/sbin', '/usr/sbin', '/sbin'].join(delimiter);
const toolEnv = () => ({ ...process.env, PATH: defaultSearchPath() });

/** A fleet problem a person has to act on: `message` says what is wrong, `fix` what to do. */
export class FleetError extends Error {
  override readonly name = 'FleetError';

  constructor(
    message: string,
    readonly fix?: string,
    options?: { cause?: unknown },
  ) {
    super(fix ? `${message}\n  fix: ${fix}` : message, options);
  }
}

/** Runs a command to completion; a non-zero exit becomes an error carrying its stderr. */
export async function run(cmd: string, args: readonly string[], opts: { allowFail?: boolean } = {}) {
  try {
    const { stdout, stderr } = await execFileAsync(cmd, args, {
      maxBuffer: 16 * 1024 * 1024,
      env: toolEnv(),
    });
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string };
    if (opts.allowFail) {
      return {
        stdout: e.stdout ?? '',
        stderr: e.stderr ?? '',
        code: typeof e.code === 'number' ? e.code : 1,
      };
    }
    if (e.code === 'ENOENT') {
      throw new FleetError(`command not found: ${cmd}`, 'install it (see .ci/run for the package list)', {
        cause: err,
      });
    }
    throw new FleetError(`${cmd} ${args.join(' ')} failed: ${(e.stderr ?? String(err)).trim()}`, undefined, {
      cause: err,
    });
  }
}

/**
 * Starts a long-running daemon detached from this process, inside a network namespace and a private
 * mount namespace of its own (so that whatever it mounts disappears with it, even after a kill -9).
 * nsenter and unshare exec the daemon without forking, so the returned pid is the daemon's own.
 * `ip netns exec` is not used: it remounts /sys, after which dockerd cannot find its cgroups.
 */
export function spawnDaemon(netns: string, cmd: string, args: readonly string[], logFile: string): number {
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(
      'nsenter',
      [`--net=/run/netns/${netns}`, '--', 'unshare', '--mount', '--propagation', 'slave', '--', cmd, ...args],
      { detached: true, stdio: ['ignore', fd, fd], env: toolEnv() },
    );
    child.unref();
    if (child.pid === undefined) throw new FleetError(`could not start ${cmd} in namespace ${netns}`);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

/** Polls `check` until it returns a value other than undefined, or fails naming `what` after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs: number,
  hint?: () => Promise<string>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const detail = hint ? await hint().catch(() => '') : '';
      const last = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new FleetError(
        `timed out after ${timeoutMs} ms waiting for ${what}${last}${detail ? `\n${detail}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, 150));
  }
}

/** The last lines of a log file, for error messages. */
export async function tail(file: string, lines = 15): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.trim().split('\n').slice(-lines).join('\n');
}

/** The network-namespace inode of a named namespace, as /proc/<pid>/ns/net shows it ("net:[…]"). */
export async function netnsId(netns: string): Promise<string | undefined> {
  const { stdout, code } = await run('stat', ['-L', '-c', '%i', `/run/netns/${netns}`], { allowFail: true });
  return code === 0 ? `net:[${stdout.trim()}]` : undefined;
}

/** Every pid whose network namespace is one of `ids`. */
export async function pidsInNetns(ids: ReadonlySet<string>): Promise<number[]> {
  if (ids.size === 0) return [];
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const link = await readlink(`/proc/${entry}/ns/net`).catch(() => undefined);
    if (link && ids.has(link)) pids.push(Number(entry));
  }
  return pids;
}

/** True while a process with this pid exists (and is not a zombie). */
export async function alive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (!stat) return false;
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X';
}

/** Resident set size of a process in bytes (0 if it is gone). */
export async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
  return m?.[1] ? Number(m[1]) * 1024 : 0;
}

export function killQuietly(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}
