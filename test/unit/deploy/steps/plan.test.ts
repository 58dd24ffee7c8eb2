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

describe('planStep with a malformed policy in Parameter Store', () => {
  it('deploys the services whose policies are valid, and fails a push meant for the broken one naming parameter and field', async () => {
    // prepare: one valid policy (web) and one whose canary percentage is out of range (api)
    const { PutParameterCommand, SSMClient } = await import('@aws-sdk/client-ssm');
    const { loadConfig } = await import('../../../../functions/lib/config/store.js');
    const ssm = new SSMClient({
      endpoint: stand.aws.endpoint,
      region: 'eu-west-1',
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
    });
    const prefix = `/${uniqueName('deployer')}`;
    const put = (name: string, value: unknown) =>
      ssm.send(
        new PutParameterCommand({ Name: `${prefix}/${name}`, Value: JSON.stringify(value), Type: 'String' }),
      );
    await put('clusters/a', {
      name: 'a',
      region: 'eu-west-1',
      target: 'mi-a',
      prometheus: { tunnelPort: 9090 },
    });
    const valid = {
      name: 'web',
      service: 'web',
      repository: 'web-repo',
      tags: { glob: '*' },
      clusters: ['a'],
      canary: { cluster: 'a', percent: 10 },
      analysis: { metrics: [{ template: 'success-rate' }] },
    };
    await put('services/web', valid);
    await put('services/api', {
      ...valid,
      name: 'api',
      service: 'api',
      repository: 'api-repo',
      canary: { cluster: 'a', percent: 250 },
    });
    const digest = digestOf(uniqueName('digest'));
    const f = fakes(stand, {
      config: (signal) => loadConfig(ssm, prefix, signal),
      catalog: catalogFor(digest),
    });

    // act
    const web = await planStep(f.deps, {
      event: ecrEvent('web-repo', 'v1', digest),
      executionName: uniqueName('web'),
    });
    const api = await planStep(f.deps, {
      event: ecrEvent('api-repo', 'v1', digest),
      executionName: uniqueName('api'),
    }).then(
      () => undefined,
      (err: Error) => err,
    );
    ssm.destroy();

    // assess
    expect(web.outcome).toBe('deploy');
    expect(api?.name).toBe('ConfigError');
    expect(api?.message).toMatch(new RegExp(`${prefix}/services/api: .*canary\\.percent`));
    expect(api?.message).not.toMatch(/250/);
  });
});
