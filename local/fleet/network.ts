import {
  allLinks,
  type ClusterLayout,
  type FleetOptions,
  type RegistryLayout,
  ruleComment,
} from './layout.js';
import { FleetError, run } from './sys.js';

type Link = ClusterLayout | RegistryLayout;

/** Names of the network namespaces that exist now. */
export async function listNetns(): Promise<string[]> {
  const { stdout } = await run('ip', ['-j', 'netns', 'list'], { allowFail: true });
  const parsed = stdout.trim() ? (JSON.parse(stdout) as Array<{ name: string }>) : [];
  return parsed.map((n) => n.name);
}

/** Host interface names and their IPv4 addresses. */
async function hostAddresses(): Promise<Array<{ ifname: string; addr: string; prefix: number }>> {
  const { stdout } = await run('ip', ['-j', 'addr', 'show']);
  const links = JSON.parse(stdout) as Array<{
    ifname: string;
    addr_info?: Array<{ family: string; local: string; prefixlen: number }>;
  }>;
  return links.flatMap((l) =>
    (l.addr_info ?? [])
      .filter((a) => a.family === 'inet')
      .map((a) => ({ ifname: l.ifname, addr: a.local, prefix: a.prefixlen })),
  );
}

const ipToInt = (ip: string) => ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);

function overlaps(a: string, aPrefix: number, b: string, bPrefix: number): boolean {
  const prefix = Math.min(aPrefix, bPrefix);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return (ipToInt(a) & mask) >>> 0 === (ipToInt(b) & mask) >>> 0;
}

/**
 * Fails when something that is not this fleet holds its names or addresses: a namespace of the same
 * name without the fleet's interface inside, or a host address inside the fleet's 10.x.0.0/16.
 */
export async function checkConflicts(o: FleetOptions): Promise<void> {
  const existing = new Set(await listNetns());
  for (const link of allLinks(o)) {
    if (!existing.has(link.netns)) continue;
    const { code } = await run('ip', ['-n', link.netns, 'link', 'show', link.nsIf], { allowFail: true });
    if (code !== 0) {
      throw new FleetError(
        `network namespace ${link.netns} already exists and was not created by this fleet (it has no interface ${link.nsIf})`,
        `remove it with \`ip netns del ${link.netns}\`, or start the fleet under another name with --name`,
      );
    }
  }
  const ours = new Set(allLinks(o).map((l) => l.hostIf));
  for (const a of await hostAddresses()) {
    if (ours.has(a.ifname)) continue;
    if (overlaps(a.addr, a.prefix, `10.${o.subnet}.0.0`, 16)) {
      throw new FleetError(
        `address range 10.${o.subnet}.0.0/16 is already in use on this host: ${a.ifname} has ${a.addr}/${a.prefix}`,
        `pick a free range with --subnet <second octet> (for example --subnet ${(o.subnet + 1) % 256}), or remove that address`,
      );
    }
  }
}

/**
 * Creates a namespace standing for one host, joined to the root namespace by a veth pair on a /24 of
 * its own. The root namespace routes between the fleet's links (forwarding is switched on for those
 * interfaces only, and the FORWARD rules carry the fleet's comment), like the router of a VPC.
 */
export async function createLink(link: Link): Promise<void> {
  await run('ip', ['netns', 'add', link.netns]);
  await run('ip', ['link', 'add', link.hostIf, 'type', 'veth', 'peer', 'name', link.nsIf]);
  await run('ip', ['link', 'set', link.nsIf, 'netns', link.netns]);
  await run('ip', ['addr', 'add', `${link.gateway}/24`, 'dev', link.hostIf]);
  await run('ip', ['link', 'set', link.hostIf, 'up']);
  await run('sysctl', ['-q', '-w', `net.ipv4.conf.${link.hostIf}.forwarding=1`]);
  await run('ip', ['-n', link.netns, 'link', 'set', 'lo', 'up']);
  await run('ip', ['-n', link.netns, 'addr', 'add', `${link.address}/24`, 'dev', link.nsIf]);
  await run('ip', ['-n', link.netns, 'link', 'set', link.nsIf, 'up']);
  await run('ip', ['-n', link.netns, 'route', 'add', 'default', 'via', link.gateway]);
}

/** Lets the fleet's links reach each other through the root namespace, whatever FORWARD's policy is. */
export async function addForwardRule(o: FleetOptions): Promise<void> {
  await run('iptables', forwardRuleArgs(o, '-I'));
}

function forwardRuleArgs(o: FleetOptions, op: '-I' | '-D' | '-C'): string[] {
  return [
    op,
    'FORWARD',
    '-i',
    `${o.name}h+`,
    '-o',
    `${o.name}h+`,
    '-m',
    'comment',
    '--comment',
    ruleComment(o),
    '-j',
    'ACCEPT',
  ];
}

/** Every iptables rule in the root namespace that carries this fleet's comment. */
export async function fleetRules(o: FleetOptions): Promise<string[]> {
  const { stdout } = await run('iptables', ['-S'], { allowFail: true });
  return stdout.split('\n').filter((l) => l.includes(ruleComment(o)));
}

/**
 * Removes the fleet's namespaces, veths and rules, found by name (whatever the cluster count was);
 * safe to call on a fleet that is half there or not there at all.
 */
export async function removeNetwork(o: FleetOptions): Promise<void> {
  for (const ns of await fleetNamespaces(o)) await run('ip', ['netns', 'del', ns], { allowFail: true });
  // A host end disappears with its peer once the namespace is gone; delete any that lingers.
  for (const ifname of await fleetInterfaces(o))
    await run('ip', ['link', 'del', ifname], { allowFail: true });
  while ((await run('iptables', forwardRuleArgs(o, '-C'), { allowFail: true })).code === 0) {
    await run('iptables', forwardRuleArgs(o, '-D'));
  }
}

/** The fleet's namespaces that exist now: <name>-reg and <name>-c<i>. */
export async function fleetNamespaces(o: FleetOptions): Promise<string[]> {
  const pattern = new RegExp(`^${o.name}-(c\\d+|reg)$`);
  return (await listNetns()).filter((n) => pattern.test(n));
}

/** Host ends of the fleet's veth pairs that exist now: <name>h<i>. */
export async function fleetInterfaces(o: FleetOptions): Promise<string[]> {
  const { stdout } = await run('ip', ['-j', 'link', 'show']);
  const pattern = new RegExp(`^${o.name}h\\d+$`);
  return (JSON.parse(stdout) as Array<{ ifname: string }>)
    .map((l) => l.ifname)
    .filter((n) => pattern.test(n));
}
