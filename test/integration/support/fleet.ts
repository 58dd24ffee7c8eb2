import { randomBytes } from 'node:crypto';
import type Docker from 'dockerode';
import DockerClient from 'dockerode';
import { buildAndPushDemoImage, type DemoBuild, type PushedImage } from '../../../local/fleet/demo-image.js';
import { type ClusterStatus, type FleetStatus, status } from '../../../local/fleet/fleet.js';
import { registryAuthHeader } from '../../../local/fleet/registry.js';

export const fleet = (): Promise<FleetStatus> => status();

export const dockerFor = (c: ClusterStatus): Docker =>
  new DockerClient({ socketPath: c.dockerHost.replace('unix://', '') });

/** A tag no engine has pulled yet, so that every test really pulls. */
export const uniqueTag = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;

export function pushDemo(
  f: FleetStatus,
  build: Omit<DemoBuild, 'tag'> & { tag?: string },
): Promise<PushedImage> {
  return buildAndPushDemoImage(f.registry, { ...build, tag: build.tag ?? uniqueTag('t') });
}

/** The X-Registry-Auth value for the fleet registry, as the Engine API wants it. */
export const registryAuth = (f: FleetStatus) =>
  registryAuthHeader(f.registry.address, { username: f.registry.username, password: f.registry.password });

export interface DemoServiceOptions {
  name: string;
  image: string;
  replicas?: number;
  env?: string[];
  auth?: string;
}

/** A demo service as the deployer expects them: scraped, host-mode port, dnsrr (no routing mesh here). */
export async function createDemoService(docker: Docker, o: DemoServiceOptions): Promise<Docker.Service> {
  const spec = {
    Name: o.name,
    Labels: { 'deployer.scrape': 'true' },
    TaskTemplate: {
      ContainerSpec: { Image: o.image, Env: o.env ?? [] },
      RestartPolicy: { Condition: 'any', Delay: 1_000_000_000 },
    },
    Mode: { Replicated: { Replicas: o.replicas ?? 2 } },
    EndpointSpec: { Mode: 'dnsrr', Ports: [{ Protocol: 'tcp', TargetPort: 8080, PublishMode: 'host' }] },
  };
  // dockerode trap: createService(spec) alone sends the spec itself as X-Registry-Auth. Always pass
  // the auth first; `{ base64 }` is sent as the header value unchanged, `{}` sends no credentials.
  const create = docker.createService.bind(docker) as unknown as (
    auth: object,
    spec: object,
  ) => Promise<{ ID?: string; id?: string }>;
  const created = await create(o.auth ? { base64: o.auth } : { base64: '' }, spec);
  return docker.getService(created.ID ?? created.id ?? o.name);
}

export async function removeServiceQuietly(docker: Docker, name: string): Promise<void> {
  await docker
    .getService(name)
    .remove()
    .catch(() => {});
}

/** Waits until `want` tasks of a service run; returns its tasks. Fails with the tasks' errors. */
export async function waitForRunning(docker: Docker, service: string, want: number, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  let tasks: Array<{ Status?: { State?: string; Err?: string }; DesiredState?: string }> = [];
  while (Date.now() < deadline) {
    tasks = await docker.listTasks({ filters: { service: [service], 'desired-state': ['running'] } });
    if (tasks.filter((t) => t.Status?.State === 'running').length >= want) return tasks;
    await new Promise((r) => setTimeout(r, 500));
  }
  const all = await docker.listTasks({ filters: { service: [service] } });
  const errors = [...new Set(all.map((t) => `${t.Status?.State}: ${t.Status?.Err ?? ''}`))].join('; ');
  throw new Error(`service ${service}: fewer than ${want} running tasks after ${timeoutMs} ms (${errors})`);
}

/** One instant query; returns the vector's samples as { labels, value }. */
export async function promQuery(url: string, query: string) {
  const res = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query })}`);
  const body = (await res.json()) as {
    status: string;
    error?: string;
    data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
  };
  if (body.status !== 'success') throw new Error(`prometheus ${url}: ${body.error}`);
  return body.data.result.map((r) => ({ labels: r.metric, value: Number(r.value[1]) }));
}
