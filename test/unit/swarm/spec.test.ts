import { describe, expect, it } from 'vitest';
import { compareVersions } from '../../../functions/lib/swarm/engine.js';
import {
  canaryReplicas,
  canarySpec,
  digestOf,
  requiredNodesFor,
  toUpdateConfig,
} from '../../../functions/lib/swarm/operations.js';
import {
  applyDesired,
  contentVersion,
  driftedParts,
  type ResolvedSpec,
  SPEC_PARTS,
  specParts,
} from '../../../functions/lib/swarm/spec.js';
import type { ServiceSpec, Snapshot } from '../../../functions/lib/swarm/types.js';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const spec = (over: Partial<ServiceSpec> = {}): ServiceSpec => ({
  Name: 'web',
  Labels: { team: 'a' },
  TaskTemplate: {
    ContainerSpec: { Image: `reg/web@${D1}`, Env: ['A=1'] },
    Networks: [{ Target: 'net1', Aliases: ['w'] }],
  },
  Mode: { Replicated: { Replicas: 5 } },
  EndpointSpec: { Mode: 'dnsrr', Ports: [{ TargetPort: 80, PublishedPort: 8080, PublishMode: 'host' }] },
  ...over,
});
const snap = (s: ServiceSpec): Snapshot => ({
  cluster: 'c1',
  service: 'web',
  serviceId: 'id',
  specVersion: 7,
  spec: s,
  image: s.TaskTemplate.ContainerSpec.Image,
  digest: D1,
  replicas: 5,
  takenAt: '2026-01-01T00:00:00Z',
});

describe('swarm spec decisions', () => {
  it('sizes the canary as a share of the primary, at least one replica', () => {
    expect(canaryReplicas(3, 34)).toBe(2);
    expect(canaryReplicas(10, 10)).toBe(1);
    expect(canaryReplicas(10, 25)).toBe(3);
    expect(canaryReplicas(1, 1)).toBe(1);
    expect(canaryReplicas(0, 50)).toBe(1);
  });

  it('builds the canary from the primary without touching the snapshot', () => {
    const primary = spec();
    const s = canarySpec(
      {
        ref: { deploymentId: 'd1', cluster: 'c1', service: 'web' },
        snapshot: snap(primary),
        image: `reg/web@${D2}`,
        percent: 20,
      },
      1,
    );
    expect(s.Name).toBe('web-canary');
    expect(s.TaskTemplate.ContainerSpec).toMatchObject({ Image: `reg/web@${D2}`, Env: ['A=1'] });
    expect(s.Labels).toMatchObject({
      team: 'a',
      'deployer.role': 'canary',
      'deployer.deployment': 'd1',
      'deployer.digest': D2,
    });
    expect(s.TaskTemplate.Networks).toEqual([{ Target: 'net1', Aliases: ['w', 'web'] }]);
    expect(s.EndpointSpec?.Ports).toEqual([{ TargetPort: 80, PublishMode: 'host' }]); // the fixed port stays the primary's
    expect(primary.Name).toBe('web');
    expect(primary.EndpointSpec?.Ports?.[0]?.PublishedPort).toBe(8080);
  });

  it('counts the nodes a service needs', () => {
    expect(requiredNodesFor(spec())).toBe(5); // fixed host-mode port: one replica per node
    expect(requiredNodesFor(spec({ EndpointSpec: {} }))).toBe(1);
    expect(
      requiredNodesFor(
        spec({
          EndpointSpec: {},
          TaskTemplate: { ContainerSpec: { Image: 'x' }, Placement: { MaxReplicas: 2 } },
        }),
      ),
    ).toBe(3);
    expect(requiredNodesFor(spec({ Mode: { Replicated: { Replicas: 0 } } }))).toBe(0);
  });

  it('converts the policy to the Engine API units', () => {
    expect(
      toUpdateConfig({
        parallelism: 2,
        delaySeconds: 1.5,
        monitorSeconds: 10,
        failureAction: 'rollback',
        maxFailureRatio: 0.2,
        order: 'start-first',
      }),
    ).toEqual({
      Parallelism: 2,
      Delay: 1_500_000_000,
      Monitor: 10_000_000_000,
      FailureAction: 'rollback',
      MaxFailureRatio: 0.2,
      Order: 'start-first',
    });
  });

  it('compares versions numerically and reads digests', () => {
    expect(compareVersions('20.10.24+dfsg1', '20.10.0')).toBe(1);
    expect(compareVersions('1.9', '1.41')).toBe(-1);
    expect(compareVersions('24.0', '24.0.0')).toBe(0);
    expect(digestOf(`reg/web:1@${D1}`)).toBe(D1);
    expect(digestOf('reg/web:1')).toBeNull();
  });
});

const MiB = 1024 * 1024;

/** A running primary with a bit of everything, as the engine answers it. */
const running = (): ServiceSpec => ({
  Name: 'web',
  Labels: { team: 'a', 'deployer.role': 'primary', 'deployer.deployment': 'd0' },
  TaskTemplate: {
    ContainerSpec: {
      Image: `reg/web@${D1}`,
      Env: ['OLD=1', 'GONE=yes'],
      Labels: { app: 'web', 'deployer.deployment': 'd0', 'deployer.digest': D1 },
      User: 'app',
      Healthcheck: { Test: ['CMD', 'true'] },
      Secrets: [
        {
          File: { Name: 'db-password', UID: '0', GID: '0', Mode: 0o444 },
          SecretID: 'sec-old',
          SecretName: 'db-password-000000000000',
        },
      ],
      Configs: [
        {
          File: { Name: '/app.yaml', UID: '0', GID: '0', Mode: 0o444 },
          ConfigID: 'cfg-old',
          ConfigName: 'app.yaml-000000000000',
        },
      ],
    },
    Resources: { Limits: { MemoryBytes: 64 * MiB }, Reservations: { NanoCPUs: 100_000_000 } },
    Placement: {
      Constraints: ['node.role==manager'],
      Preferences: [{ Spread: { SpreadDescriptor: 'node.labels.zone' } }],
    },
    RestartPolicy: { Condition: 'any' },
    Networks: [{ Target: 'net-old', Aliases: ['w'] }],
  },
  Mode: { Replicated: { Replicas: 4 } },
  Networks: [{ Target: 'net-legacy' }],
  EndpointSpec: { Ports: [{ TargetPort: 80, PublishedPort: 8080, PublishMode: 'ingress' }] },
  UpdateConfig: { Parallelism: 1 },
});

const everything: ResolvedSpec = {
  env: { A: '1' },
  labels: { app: 'web2' },
  resources: { limits: { nanoCpus: 500_000_000, memoryBytes: 128 * MiB } },
  placement: { constraints: ['node.labels.zone==a'] },
  healthcheck: { disable: true },
  networks: [{ id: 'net-1', name: 'backend' }],
  secrets: [
    { id: 'sec-1', dockerName: 'db-password-aaaaaaaaaaaa', target: 'db', uid: '0', gid: '0', mode: 0o400 },
  ],
  configs: [
    {
      id: 'cfg-1',
      dockerName: 'app.yaml-bbbbbbbbbbbb',
      target: '/etc/app.yaml',
      uid: '1',
      gid: '1',
      mode: 0o444,
    },
  ],
};

/** The same value with the keys of every object in reverse order. */
function reordered<T>(value: T): T {
  if (Array.isArray(value)) return value.map(reordered) as T;
  if (value && typeof value === 'object')
    return Object.fromEntries(
      Object.entries(value)
        .reverse()
        .map(([k, v]) => [k, reordered(v)]),
    ) as T;
  return value;
}

describe('applyDesired: the policy spec applied to a service', () => {
  it('replaces the environment and container labels only, keeping the image, replicas, ports and deployer.* labels', () => {
    // prepare
    const base = running();
    const expected = running();
    expected.TaskTemplate.ContainerSpec.Env = ['A=1', 'B=x=y'];
    expected.TaskTemplate.ContainerSpec.Labels = {
      app: 'web2',
      tier: 'front',
      'deployer.deployment': 'd0',
      'deployer.digest': D1,
    };
    // act
    const out = applyDesired(base, { env: { A: '1', B: 'x=y' }, labels: { app: 'web2', tier: 'front' } });
    // assess
    expect(out).toEqual(expected);
    expect(out.TaskTemplate.ContainerSpec.Image).toBe(`reg/web@${D1}`);
    expect(out.Mode).toEqual({ Replicated: { Replicas: 4 } });
    expect(out.EndpointSpec?.Ports).toEqual([
      { TargetPort: 80, PublishedPort: 8080, PublishMode: 'ingress' },
    ]);
  });

  it('replaces the resources as a whole and the constraints, keeping the other placement settings', () => {
    // prepare
    const desired: ResolvedSpec = {
      resources: { limits: { nanoCpus: undefined, memoryBytes: 128 * MiB } },
      placement: { constraints: ['node.labels.zone==a'] },
    };
    // act
    const out = applyDesired(running(), desired);
    // assess
    expect(out.TaskTemplate.Resources).toEqual({ Limits: { MemoryBytes: 128 * MiB } }); // reservations gone
    expect(out.TaskTemplate.Placement).toEqual({
      Constraints: ['node.labels.zone==a'],
      Preferences: [{ Spread: { SpreadDescriptor: 'node.labels.zone' } }],
    });
    expect(
      applyDesired(running(), {
        resources: { reservations: { nanoCpus: 250_000_000, memoryBytes: 6 * MiB } },
      }).TaskTemplate.Resources,
    ).toEqual({ Reservations: { NanoCPUs: 250_000_000, MemoryBytes: 6 * MiB } });
  });

  it('sets the health check in nanoseconds, and disables it with Test ["NONE"]', () => {
    // prepare
    const check: ResolvedSpec = {
      healthcheck: {
        test: ['CMD', 'curl', '-f', 'http://localhost/'],
        intervalSeconds: 10,
        timeoutSeconds: 2.5,
        retries: 5,
        startPeriodSeconds: 0.5,
      },
    };
    // act
    const checked = applyDesired(running(), check);
    const disabled = applyDesired(running(), { healthcheck: { disable: true } });
    // assess
    expect(checked.TaskTemplate.ContainerSpec.Healthcheck).toEqual({
      Test: ['CMD', 'curl', '-f', 'http://localhost/'],
      Interval: 10_000_000_000,
      Timeout: 2_500_000_000,
      Retries: 5,
      StartPeriod: 500_000_000,
    });
    expect(disabled.TaskTemplate.ContainerSpec.Healthcheck).toEqual({ Test: ['NONE'] });
  });

  it('replaces the task networks and drops the deprecated service-level Networks', () => {
    // prepare
    const desired: ResolvedSpec = {
      networks: [
        { id: 'net-1', name: 'backend', aliases: ['api'] },
        { id: 'net-2', name: 'front', aliases: [] },
        { id: 'net-3', name: 'metrics' },
      ],
    };
    // act
    const out = applyDesired(running(), desired);
    // assess
    expect(out.TaskTemplate.Networks).toEqual([
      { Target: 'net-1', Aliases: ['api'] },
      { Target: 'net-2' },
      { Target: 'net-3' },
    ]);
    expect('Networks' in out).toBe(false);
    // Undeclared, both stay as they are.
    expect(applyDesired(running(), { env: {} }).Networks).toEqual([{ Target: 'net-legacy' }]);
  });

  it('mounts secrets and configs with their file, id and versioned name', () => {
    // prepare
    const desired: ResolvedSpec = { secrets: everything.secrets, configs: everything.configs };
    // act
    const container = applyDesired(running(), desired).TaskTemplate.ContainerSpec;
    // assess
    expect(container.Secrets).toEqual([
      {
        File: { Name: 'db', UID: '0', GID: '0', Mode: 0o400 },
        SecretID: 'sec-1',
        SecretName: 'db-password-aaaaaaaaaaaa',
      },
    ]);
    expect(container.Configs).toEqual([
      {
        File: { Name: '/etc/app.yaml', UID: '1', GID: '1', Mode: 0o444 },
        ConfigID: 'cfg-1',
        ConfigName: 'app.yaml-bbbbbbbbbbbb',
      },
    ]);
  });

  it('never changes its input, and returns a copy without a desired spec', () => {
    // prepare
    const base = running();
    const before = structuredClone(base);
    // act
    const out = applyDesired(base, everything);
    const unchanged = applyDesired(base, undefined);
    // assess
    expect(base).toEqual(before);
    expect(out.TaskTemplate.ContainerSpec).not.toBe(base.TaskTemplate.ContainerSpec);
    expect(unchanged).toEqual(base);
    expect(unchanged).not.toBe(base);
    expect(unchanged.TaskTemplate).not.toBe(base.TaskTemplate);
  });
});

describe('content versions and spec parts', () => {
  it('versions a content by the first 12 hex digits of its SHA-256', () => {
    // act
    const abc = contentVersion('abc');
    // assess
    expect(abc).toBe('ba7816bf8f01'); // sha256("abc") = ba7816bf8f01cfea…
    expect(contentVersion(Buffer.from('abc'))).toBe(abc);
    expect(contentVersion('')).toBe('e3b0c44298fc');
    expect(contentVersion('abd')).not.toBe(abc);
  });

  it('hashes each part, equal for equal specs whatever the order of their keys', () => {
    // prepare
    const spec = running();
    const same = reordered(spec);
    expect(JSON.stringify(same)).not.toBe(JSON.stringify(spec));
    // act
    const parts = specParts(spec);
    // assess
    expect(Object.keys(parts)).toEqual([...SPEC_PARTS]);
    for (const hash of Object.values(parts)) expect(hash).toMatch(/^[0-9a-f]{12}$/);
    expect(specParts(same)).toEqual(parts);
  });

  it("leaves the image and the deployer's own labels out", () => {
    // prepare
    const next = running();
    next.TaskTemplate.ContainerSpec.Image = `reg/web@${D2}`;
    next.TaskTemplate.ContainerSpec.Labels = {
      ...next.TaskTemplate.ContainerSpec.Labels,
      'deployer.deployment': 'd1',
      'deployer.digest': D2,
      'deployer.role': 'primary',
    };
    next.Labels = { ...next.Labels, 'deployer.deployment': 'd1' };
    // act
    const parts = specParts(next);
    // assess
    expect(parts).toEqual(specParts(running()));
  });

  it('changes only the env part when the environment changes', () => {
    // prepare
    const before = specParts(running());
    const changed = running();
    changed.TaskTemplate.ContainerSpec.Env = ['OLD=2', 'GONE=yes'];
    // act
    const after = specParts(changed);
    // assess
    expect(SPEC_PARTS.filter((p) => after[p] !== before[p])).toEqual(['env']);
  });

  it('reports as drifted only the parts the deployed record has and that differ', () => {
    // prepare
    const deployed = { env: 'e1', labels: 'l1', secrets: 's1', ports: 'p1' };
    const now = { env: 'e1', labels: 'l2', secrets: 's1', ports: 'p2', configs: 'c9', mode: 'm9' };
    // act
    const drifted = driftedParts(deployed, now);
    // assess
    expect(drifted).toEqual(['labels', 'ports']); // in SPEC_PARTS order; configs and mode were not recorded
    expect(driftedParts(deployed, { ...deployed })).toEqual([]);
    expect(driftedParts({}, now)).toEqual([]);
    expect(driftedParts({ placement: 'x' }, {})).toEqual(['placement']); // a part now missing has drifted
  });
});
