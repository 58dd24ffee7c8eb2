import { spawnSync } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { REQUIRED_PROGRAMS } from '../../../local/fleet/preflight.js';

/**
 * local/setup.sh, run by bash against fake programs first on its PATH: `dpkg-query` answers the
 * statuses a test gives, `id -u` the user a test chooses, and `apt-get` and `npm` only write down
 * how they were called. Nothing is installed and no root is needed.
 */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SCRIPT = join(ROOT, 'local', 'setup.sh');

/** What the set-up installs, in its order: the packages .ci/run installed, tmux and shellcheck. */
const PACKAGES = [
  'docker.io',
  'containerd',
  'runc',
  'prometheus',
  'docker-registry',
  'busybox-static',
  'iproute2',
  'iptables',
  'util-linux',
  'ca-certificates',
  'openssl',
  'socat',
  'tmux',
  'shellcheck',
];
const INSTALLED = 'install ok installed';

const FAKES: Record<string, string> = {
  // dpkg-query -W -f=FORMAT PACKAGE: the package's status from $FAKE_DPKG_DB/<package>, or unknown.
  'dpkg-query': `#!/bin/sh
printf '%s\\n' "dpkg-query $*" >> "$FAKE_DPKG_LOG"
for pkg; do :; done
if [ -f "$FAKE_DPKG_DB/$pkg" ]; then cat "$FAKE_DPKG_DB/$pkg"; exit 0; fi
echo "dpkg-query: no packages found matching $pkg" >&2
exit 1
`,
  id: `#!/bin/sh
if [ "$1" = -u ]; then echo "$FAKE_UID"; exit 0; fi
exec /usr/bin/id "$@"
`,
  'apt-get': `#!/bin/sh
echo "apt-get $* [DEBIAN_FRONTEND=$DEBIAN_FRONTEND]" >> "$FAKE_LOG"
exit "\${FAKE_APT_EXIT:-0}"
`,
  npm: `#!/bin/sh
echo "npm $* [in $(pwd)]" >> "$FAKE_LOG"
`,
};

interface Sandbox {
  dir: string;
  /** A copy of the repository's root as the script sees it: local/setup.sh and the lockfile. */
  repo: string;
  bin: string;
  db: string;
  log: string;
  dpkgLog: string;
}

const sandboxes: string[] = [];

async function sandbox(): Promise<Sandbox> {
  const dir = await mkdtemp(join(tmpdir(), 'setup-'));
  sandboxes.push(dir);
  const s = {
    dir,
    repo: join(dir, 'repo'),
    bin: join(dir, 'bin'),
    db: join(dir, 'dpkg'),
    log: join(dir, 'calls.log'),
    dpkgLog: join(dir, 'dpkg.log'),
  };
  await mkdir(join(s.repo, 'local'), { recursive: true });
  await mkdir(s.bin);
  await mkdir(s.db);
  await copyFile(SCRIPT, join(s.repo, 'local', 'setup.sh'));
  await writeFile(join(s.repo, 'package.json'), '{"name":"swarm-deployer"}\n');
  await writeFile(join(s.repo, 'package-lock.json'), '{"lockfileVersion":3}\n');
  for (const [name, text] of Object.entries(FAKES)) {
    await writeFile(join(s.bin, name), text);
    await chmod(join(s.bin, name), 0o755);
  }
  await writeFile(s.log, '');
  await writeFile(s.dpkgLog, '');
  return s;
}

/** Every package installed except those given (status, or undefined: dpkg does not know it). */
async function dpkg(s: Sandbox, except: Record<string, string | undefined> = {}): Promise<void> {
  for (const pkg of PACKAGES) {
    if (pkg in except && except[pkg] === undefined) continue;
    await writeFile(join(s.db, pkg), `${except[pkg] ?? INSTALLED}\n`);
  }
}

/** node_modules as npm ci leaves it, its mark written `ageSeconds` after (negative: before) the lockfile. */
async function nodeModules(s: Sandbox, ageSeconds = 60): Promise<void> {
  await mkdir(join(s.repo, 'node_modules'), { recursive: true });
  const mark = join(s.repo, 'node_modules', '.package-lock.json');
  await writeFile(mark, '{}\n');
  const lock = Date.now() / 1000 - 3600;
  await utimes(join(s.repo, 'package-lock.json'), lock, lock);
  await utimes(mark, lock + ageSeconds, lock + ageSeconds);
}

function run(
  s: Sandbox,
  args: string[],
  options: { uid?: number; env?: Record<string, string>; script?: string } = {},
) {
  const out = spawnSync('bash', [options.script ?? join(s.repo, 'local', 'setup.sh'), ...args], {
    cwd: s.dir,
    encoding: 'utf8',
    env: {
      PATH: `${s.bin}:/usr/bin:/bin`,
      FAKE_UID: String(options.uid ?? 0),
      FAKE_DPKG_DB: s.db,
      FAKE_DPKG_LOG: s.dpkgLog,
      FAKE_LOG: s.log,
      ...options.env,
    },
    timeout: 15_000,
  });
  return { code: out.status, stdout: out.stdout, stderr: out.stderr };
}

const calls = async (s: Sandbox) => (await readFile(s.log, 'utf8')).split('\n').filter(Boolean);

/** The packages a dry run says it would install (none when it prints no install line). */
function wouldInstall(stdout: string): string[] {
  const m = /would run apt-get update, then apt-get install -y --no-install-recommends (.+)$/m.exec(stdout);
  return m?.[1]?.trim().split(/\s+/) ?? [];
}

afterEach(async () => {
  for (const d of sandboxes.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('local/setup.sh --dry-run', () => {
  it("names exactly the packages dpkg-query reports missing, as any user, changing nothing (the repository's script)", async () => {
    const s = await sandbox();
    await dpkg(s, {
      prometheus: undefined, // unknown to dpkg
      'busybox-static': 'install ok half-installed',
      socat: 'deinstall ok config-files', // removed, its configuration kept
      tmux: undefined,
    });
    const out = run(s, ['--dry-run'], { uid: 1000, script: SCRIPT });
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(wouldInstall(out.stdout)).toEqual(['prometheus', 'busybox-static', 'socat', 'tmux']);
    expect(await calls(s)).toEqual([]);
    // One dpkg-query per package, asking for its status.
    const queries = (await readFile(s.dpkgLog, 'utf8')).split('\n').filter(Boolean);
    expect(queries).toEqual(PACKAGES.map((p) => `dpkg-query -W -f=\${Status}\\n ${p}`));
  });

  it('names every package on a machine that has none, in order', async () => {
    const s = await sandbox();
    const out = run(s, ['--dry-run']);
    expect(out.code).toBe(0);
    expect(wouldInstall(out.stdout)).toEqual(PACKAGES);
    expect(out.stdout).toMatch(/would run npm ci \(node_modules is missing\)/);
    expect(await calls(s)).toEqual([]);
  });

  it('says there is nothing to do on a machine that is set up', async () => {
    const s = await sandbox();
    await dpkg(s);
    await nodeModules(s);
    const out = run(s, ['--dry-run'], { uid: 1000 });
    expect(out.code).toBe(0);
    expect(wouldInstall(out.stdout)).toEqual([]);
    expect(out.stdout).toMatch(/the 14 Debian packages are installed/);
    expect(out.stdout).toMatch(/node_modules is up to date with package-lock.json/);
  });

  it('is executable, as the README runs it (sudo ./local/setup.sh)', async () => {
    expect((await stat(SCRIPT)).mode & 0o111).toBe(0o111);
    expect(await readFile(SCRIPT, 'utf8')).toMatch(/^#!\/usr\/bin\/env bash\n[\s\S]*^set -euo pipefail$/m);
  });

  it('installs the packages the fleet checks for (local/fleet/preflight.ts)', () => {
    for (const { pkg } of REQUIRED_PROGRAMS) expect(PACKAGES).toContain(pkg);
  });
});

describe('local/setup.sh', () => {
  it('says in one line, to a user who is not root, that it needs root and the command to run', async () => {
    const s = await sandbox();
    await dpkg(s, { tmux: undefined });
    const out = run(s, [], { uid: 1000 });
    expect(out.code).toBe(1);
    expect(out.stdout).toBe('');
    const lines = out.stderr.split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/needs root/);
    expect(lines[0]).toMatch(/run sudo \.\/local\/setup\.sh$/);
    expect(await calls(s)).toEqual([]);
  });

  it('as root, installs exactly what is missing, non-interactively, runs npm ci and prints the next command', async () => {
    const s = await sandbox();
    await dpkg(s, { prometheus: undefined, tmux: 'deinstall ok config-files' });
    const out = run(s, []);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(await calls(s)).toEqual([
      'apt-get update -q [DEBIAN_FRONTEND=noninteractive]',
      'apt-get install -y -q --no-install-recommends prometheus tmux [DEBIAN_FRONTEND=noninteractive]',
      `npm ci [in ${s.repo}]`,
    ]);
    expect(out.stdout.trimEnd().split('\n').at(-1)).toBe('setup: ready. Next: npm run demo');
  });

  it('is idempotent: on a machine that is set up it installs and runs nothing, every time', async () => {
    const s = await sandbox();
    await dpkg(s);
    await nodeModules(s);
    for (let i = 0; i < 2; i++) {
      const out = run(s, []);
      expect(out.code).toBe(0);
      expect(out.stdout).toMatch(/the 14 Debian packages are installed/);
      expect(out.stdout.trimEnd().split('\n').at(-1)).toBe('setup: ready. Next: npm run demo');
    }
    expect(await calls(s)).toEqual([]);
  });

  it('runs npm ci when node_modules is older than package-lock.json', async () => {
    const s = await sandbox();
    await dpkg(s);
    await nodeModules(s, -60);
    const out = run(s, []);
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/running npm ci \(node_modules is older than package-lock.json\)/);
    expect(await calls(s)).toEqual([`npm ci [in ${s.repo}]`]);
  });

  it('runs npm ci in any case with --ci (what .ci/run asks)', async () => {
    const s = await sandbox();
    await dpkg(s);
    await nodeModules(s);
    const out = run(s, ['--ci']);
    expect(out.code).toBe(0);
    expect(await calls(s)).toEqual([`npm ci [in ${s.repo}]`]);
  });

  it('stops at a failed apt-get, before npm ci', async () => {
    const s = await sandbox();
    await dpkg(s, { socat: undefined });
    const out = run(s, [], { env: { FAKE_APT_EXIT: '100' } });
    expect(out.code).toBe(100);
    expect(await calls(s)).toEqual(['apt-get update -q [DEBIAN_FRONTEND=noninteractive]']);
  });

  it('under sudo, names the next command with sudo (the demo runs the fleet as root)', async () => {
    const s = await sandbox();
    await dpkg(s);
    await nodeModules(s);
    const out = run(s, [], { env: { SUDO_USER: 'alice' } });
    expect(out.stdout.trimEnd().split('\n').at(-1)).toBe('setup: ready. Next: sudo npm run demo');
  });

  it('refuses an unknown argument with its usage', async () => {
    const s = await sandbox();
    const out = run(s, ['--yes']);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(
      /unknown argument "--yes"[\s\S]*usage: local\/setup.sh \[--dry-run\] \[--ci\]/,
    );
    expect(await calls(s)).toEqual([]);
  });

  it('is what .ci/run installs with', async () => {
    const ci = await readFile(join(ROOT, '.ci', 'run'), 'utf8');
    expect(ci).toMatch(/^bash \.\/local\/setup\.sh --ci$/m);
    expect(ci).not.toMatch(/^\s*apt-get /m);
    expect(ci).not.toMatch(/^\s*npm ci/m);
  });
});
