import { describe, expect, it } from 'vitest';
import { planStep } from '../../../../functions/lib/deploy/steps/index.js';
import { catalogFor, configFor, digestOf, ecrEvent, fakes, uniqueName, useStand } from './harness.js';

/** Plan: an ECR push becomes a plan, and a deployable push is remembered as the service's newest. */

const stand = useStand();

describe('planStep', () => {
  it('plans a push under the execution name and records it as the latest push of the service', async () => {
    // prepare
    const service = uniqueName('api');
    const digest = digestOf(uniqueName('digest'));
    const f = fakes(stand, { config: async () => configFor({ service }), catalog: catalogFor(digest) });
    const name = uniqueName('execution');

    // act
    const plan = await planStep(f.deps, {
      event: ecrEvent(`${service}-repo`, 'v3.1.0', digest, '2031-05-04T09:58:00Z'),
      executionName: name,
    });

    // assess
    expect(plan.outcome).toBe('deploy');
    if (plan.outcome !== 'deploy') return;
    expect(plan.deployment).toMatchObject({ id: name, service, tag: 'v3.1.0', digest });
    expect(plan.clusters.map((c) => c.name)).toEqual(['a', 'b', 'c']);
    expect(await stand.record.latestPush(service)).toEqual({ digest, time: '2031-05-04T09:58:00Z' });
  });

  it('keeps the newer push when an older one is planned late', async () => {
    // prepare
    const service = uniqueName('api');
    const newer = digestOf(uniqueName('digest'));
    const older = digestOf(uniqueName('digest'));
    const config = async () => configFor({ service });
    await planStep(fakes(stand, { config, catalog: catalogFor(newer) }).deps, {
      event: ecrEvent(`${service}-repo`, 'v2', newer, '2031-05-04T09:59:00Z'),
      executionName: uniqueName('execution'),
    });

    // act
    const late = await planStep(fakes(stand, { config, catalog: catalogFor(older) }).deps, {
      event: ecrEvent(`${service}-repo`, 'v1', older, '2031-05-04T09:50:00Z'),
      executionName: uniqueName('execution'),
    });

    // assess
    expect(late.outcome).toBe('deploy');
    expect(await stand.record.latestPush(service)).toEqual({ digest: newer, time: '2031-05-04T09:59:00Z' });
  });

  it('records nothing for a push it ignores, and says why', async () => {
    // prepare: the tag has moved on to another digest since the push
    const service = uniqueName('api');
    const pushed = digestOf(uniqueName('digest'));
    const now = digestOf(uniqueName('digest'));
    const f = fakes(stand, { config: async () => configFor({ service }), catalog: catalogFor(now) });

    // act
    const plan = await planStep(f.deps, {
      event: ecrEvent(`${service}-repo`, 'v1', pushed),
      executionName: uniqueName('execution'),
    });

    // assess
    expect(plan).toEqual({
      outcome: 'ignored',
      reason: `${service}-repo:v1 has moved on from ${pushed} to ${now}; that push deploys it`,
    });
    expect(await stand.record.latestPush(service)).toBeUndefined();
  });
});
