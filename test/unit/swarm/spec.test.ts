import { describe, expect, it } from 'vitest';
import { compareVersions } from '../../../functions/lib/swarm/engine.js';
import {
  canaryReplicas,
  canarySpec,
  digestOf,
  requiredNodesFor,
  toUpdateConfig,
} from '../../../functions/lib/swarm/operations.js';
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
