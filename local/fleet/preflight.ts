import { access, constants, open } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { defaultSearchPath, FleetError } from './sys.js';

/** The programs the fleet runs, and the Debian package that brings each. */
export const REQUIRED_PROGRAMS: ReadonlyArray<{ program: string; pkg: string }> = [
  { program: 'dockerd', pkg: 'docker.io' },
  { program: 'containerd', pkg: 'containerd' },
  { program: 'runc', pkg: 'runc' },
  { program: 'prometheus', pkg: 'prometheus' },
  { program: 'docker-registry', pkg: 'docker-registry' },
  { program: 'busybox', pkg: 'busybox-static' },
  { program: 'ip', pkg: 'iproute2' },
  { program: 'iptables', pkg: 'iptables' },
  { program: 'nsenter', pkg: 'util-linux' },
  { program: 'unshare', pkg: 'util-linux' },
  { program: 'socat', pkg: 'socat' },
  { program: 'openssl', pkg: 'openssl' },
];

/** Finds an executable on a search path. */
export async function which(program: string, path = defaultSearchPath()): Promise<string | undefined> {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, program);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

/** True when an ELF executable has no program interpreter, i.e. it is statically linked. */
export async function isStaticElf(file: string): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    const header = Buffer.alloc(64);
    await fh.read(header, 0, 64, 0);
    if (header.readUInt32BE(0) !== 0x7f454c46 || header[4] !== 2) return false; // ELF64 only
    const phoff = Number(header.readBigUInt64LE(0x20));
    const phentsize = header.readUInt16LE(0x36);
    const phnum = header.readUInt16LE(0x38);
    const table = Buffer.alloc(phentsize * phnum);
    await fh.read(table, 0, table.length, phoff);
    for (let i = 0; i < phnum; i++) {
      if (table.readUInt32LE(i * phentsize) === 3) return false; // PT_INTERP
    }
    return true;
  } finally {
    await fh.close();
  }
}

export interface Environment {
  uid: number;
  path: string;
}

/**
 * Checks what the fleet needs before touching anything, and names the problem and its fix:
 * root, every program, and a static busybox (the demo image is built FROM scratch around it).
 */
export async function preflight(
  env: Environment = { uid: process.getuid?.() ?? -1, path: process.env.PATH ?? '' },
) {
  if (env.uid !== 0) {
    throw new FleetError(
      'the local fleet must run as root: it creates network namespaces and starts dockerd',
      'run it as root, e.g. `sudo npm run fleet -- up`',
    );
  }
  const missing: string[] = [];
  const found = new Map<string, string>();
  for (const { program, pkg } of REQUIRED_PROGRAMS) {
    const where = await which(program, env.path);
    if (where) found.set(program, where);
    else missing.push(`${program} (package ${pkg})`);
  }
  if (missing.length > 0) {
    const pkgs = [...new Set(REQUIRED_PROGRAMS.filter((p) => !found.has(p.program)).map((p) => p.pkg))];
    throw new FleetError(`missing ${missing.join(', ')}`, `apt-get install -y ${pkgs.join(' ')}`);
  }
  const busybox = found.get('busybox') as string;
  if (!(await isStaticElf(busybox))) {
    throw new FleetError(
      `${busybox} is dynamically linked; the demo image is FROM scratch and needs a static busybox`,
      'apt-get install -y busybox-static',
    );
  }
  return found;
}
