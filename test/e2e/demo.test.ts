import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { DEPLOYER_METRICS_PORT } from '../../local/fleet/cluster.js';
import { AWS_PORT } from '../../local/runtime/runtime.js';

/** Whether something listens on host:port. */
function listening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('npm run demo', () => {
  it('runs a good release, a bad one and an undo on the twin, prints the summary, and leaves no twin running', async () => {
    // Act: the README's first command after set-up (the fleet is already up here, so the demo leaves it up)
    const child = spawn('npm', ['run', '-s', 'demo'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: process.env,
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString('utf8');
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString('utf8');
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    // Assert: every step, the live view, the summary table of the three deployments
    expect(code, out.slice(-3000)).toBe(0);
    for (const step of ['1/6', '2/6', '3/6', '4/6', '5/6', '6/6']) expect(out).toContain(step);
    expect(out).toMatch(/wave rest done/);
    expect(out).toMatch(/analysis Failed|AnalysisFailedError/);
    const summary = out.slice(out.indexOf('summary (the audit trail'));
    expect(summary).toMatch(/\n\s+push\s+v2\.0\.0\s+succeeded /);
    expect(summary).toMatch(/\n\s+push\s+v3\.0\.0\s+rolled-back /);
    expect(summary).toMatch(/\n\s+undo\s+\S+\s+succeeded /);
    expect(out).toMatch(/done in \d+ s; the fleet was up before the demo and is left up/);
    // Nothing of the twin is left: its AWS stand-in and metrics endpoint (on the fleet's host side) are closed
    const { status } = await import('../../local/fleet/fleet.js');
    const host = new URL((await status()).registry.eventsUrl).hostname;
    expect(await listening(host, AWS_PORT)).toBe(false);
    expect(await listening(host, DEPLOYER_METRICS_PORT)).toBe(false);
  });
});
