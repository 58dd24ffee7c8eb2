import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { preflight, REQUIRED_PROGRAMS, which } from '../../../local/fleet/preflight.js';
import { defaultSearchPath } from '../../../local/fleet/sys.js';

/** A PATH of one directory holding the real programs, minus some, or with some swapped. */
async function fakePath(omit: string[], swap: Record<string, string> = {}): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'fleet-path-'));
  dirs.push(dir);
  for (const { program } of REQUIRED_PROGRAMS) {
    if (omit.includes(program)) continue;
    const real = swap[program] ?? (await which(program, defaultSearchPath()));
    if (!real) throw new Error(`test machine lacks ${program}`);
    await symlink(real, join(dir, program));
  }
  return dir;
}
const dirs: string[] = [];

describe('fleet preflight', () => {
  afterEach(async () => {
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });

  it('passes on this machine', async () => {
    const found = await preflight({ uid: 0, path: defaultSearchPath() });
    expect([...found.keys()].sort()).toEqual(REQUIRED_PROGRAMS.map((p) => p.program).sort());
  });

  it('names root as the problem for another user', async () => {
    await expect(preflight({ uid: 1000, path: defaultSearchPath() })).rejects.toThrow(/must run as root/);
  });

  it.each([
    ['dockerd', 'docker.io'],
    ['prometheus', 'prometheus'],
    ['docker-registry', 'docker-registry'],
  ])('names a missing %s and the package that brings it', async (program, pkg) => {
    const path = await fakePath([program]);
    await expect(preflight({ uid: 0, path })).rejects.toThrow(
      new RegExp(`missing ${program} \\(package ${pkg}\\)\\n  fix: apt-get install -y ${pkg}$`),
    );
  });

  it('lists every missing program in one message', async () => {
    const path = await fakePath(['dockerd', 'prometheus']);
    await expect(preflight({ uid: 0, path })).rejects.toThrow(
      /missing dockerd \(package docker\.io\), prometheus \(package prometheus\)\n {2}fix: apt-get install -y docker\.io prometheus/,
    );
  });

  it('rejects a dynamically linked busybox: the demo image is FROM scratch', async () => {
    const path = await fakePath([], { busybox: '/bin/ls' });
    await expect(preflight({ uid: 0, path })).rejects.toThrow(
      /dynamically linked[\s\S]*fix: apt-get install -y busybox-static/,
    );
  });
});
