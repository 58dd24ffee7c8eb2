import { join } from 'node:path';

/** What a fleet is asked to be. Two fleets with different names and subnets can run side by side. */
export interface FleetOptions {
  /** Prefix of every namespace, interface and cgroup (1 to 6 lowercase letters or digits). */
  name: string;
  clusters: number;
  /** Second octet of the fleet's 10.x.0.0/16: cluster i owns 10.x.i.0/24, the registry 10.x.0.0/24. */
  subnet: number;
  /** Where every daemon keeps its data, sockets and logs. */
  stateDir: string;
  /** Port on the host side of the registry's link (10.x.0.1) where push notifications are sent. */
  eventsPort: number;
}

export const DEFAULT_OPTIONS: FleetOptions = {
  name: 'dpl',
  clusters: 3,
  subnet: 231,
  stateDir: '/var/lib/swarm-deployer/fleet-dpl',
  eventsPort: 8089,
};

/** Fills in defaults; the state directory follows the name unless given. */
export function resolveOptions(partial: Partial<FleetOptions> = {}): FleetOptions {
  const name = partial.name ?? DEFAULT_OPTIONS.name;
  const opts: FleetOptions = {
    ...DEFAULT_OPTIONS,
    stateDir: process.env.FLEET_STATE_DIR ?? `/var/lib/swarm-deployer/fleet-${name}`,
    ...Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)),
  };
  validateOptions(opts);
  return opts;
}

function validateOptions(o: FleetOptions): void {
  if (!/^[a-z][a-z0-9]{0,5}$/.test(o.name)) {
    throw new Error(`fleet name "${o.name}": use 1 to 6 lowercase letters or digits, starting with a letter`);
  }
  if (!Number.isInteger(o.clusters) || o.clusters < 1 || o.clusters > 20) {
    throw new Error(`--clusters ${o.clusters}: use a whole number from 1 to 20`);
  }
  if (!Number.isInteger(o.subnet) || o.subnet < 0 || o.subnet > 255) {
    throw new Error(`--subnet ${o.subnet}: use the second octet of a 10.x.0.0/16 range, 0 to 255`);
  }
}

/** One Swarm cluster: a namespace that stands for the manager's host. */
export interface ClusterLayout {
  name: string;
  index: number;
  netns: string;
  hostIf: string;
  nsIf: string;
  /** The manager's address inside its namespace (its "host" address). */
  address: string;
  gateway: string;
  dir: string;
  socket: string;
  cgroupParent: string;
  /** The SSM managed-instance id of the manager (mi- and 17 hex digits, as hybrid activations have). */
  target: string;
}

export interface RegistryLayout {
  netns: string;
  hostIf: string;
  nsIf: string;
  address: string;
  gateway: string;
  port: number;
  dir: string;
}

export function clusterLayout(o: FleetOptions, index: number): ClusterLayout {
  const dir = join(o.stateDir, `c${index}`);
  return {
    name: `c${index}`,
    index,
    netns: `${o.name}-c${index}`,
    hostIf: `${o.name}h${index}`,
    nsIf: `${o.name}n${index}`,
    address: `10.${o.subnet}.${index}.2`,
    gateway: `10.${o.subnet}.${index}.1`,
    dir,
    socket: join(dir, 'docker.sock'),
    cgroupParent: `${o.name}-c${index}`,
    target: `mi-${(o.subnet * 1000 + index).toString(16).padStart(17, '0')}`,
  };
}

export function registryLayout(o: FleetOptions): RegistryLayout {
  return {
    netns: `${o.name}-reg`,
    hostIf: `${o.name}h0`,
    nsIf: `${o.name}n0`,
    address: `10.${o.subnet}.0.2`,
    gateway: `10.${o.subnet}.0.1`,
    port: 5000,
    dir: join(o.stateDir, 'registry'),
  };
}

export function allLinks(o: FleetOptions): Array<ClusterLayout | RegistryLayout> {
  return [registryLayout(o), ...Array.from({ length: o.clusters }, (_, i) => clusterLayout(o, i + 1))];
}

/** Engine API port on each manager's loopback, as the SSM agent would dial it. */
export const ENGINE_PORT = 2375;
/** The same Engine API with mutual TLS (dockerd --tlsverify). */
export const ENGINE_TLS_PORT = 2376;
export const PROMETHEUS_PORT = 9090;
/** Comment on the fleet's iptables rules, so that `down` finds exactly its own. */
export const ruleComment = (o: FleetOptions) => `swarm-deployer-fleet:${o.name}`;
