import { SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { preflightStep } from '../../../../functions/lib/deploy/steps/index.js';
import { type AwsStandIn, startAwsStandIn } from '../../../../local/aws/index.js';
import { caught, deployPlan, fakes, NOW, useStand } from './harness.js';

/** A manager whose agent is gone: retried by the workflow, then given up on after the cluster's bound. */
describe('a cluster that cannot be reached', () => {
  const stand = useStand();
  let ssmService: AwsStandIn;
  let ssm: SSMClient;

  beforeAll(async () => {
    // The managed instance is registered, but its agent never connects (StartSession: TargetNotConnected).
    ssmService = await startAwsStandIn({ host: '127.0.0.1', port: 0, knownTargets: ['mi-a'] });
    ssm = new SSMClient({
      endpoint: ssmService.endpoint,
      region: 'eu-west-1',
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
      maxAttempts: 1,
    });
  });
  afterAll(async () => {
    ssm?.destroy();
    await ssmService?.stop();
  });

  it('stays retryable until the bound, then names the cluster and says its state is unverified', async () => {
    // prepare
    const plan = await deployPlan({ clusters: ['a'] });
    const cluster = { ...(plan.clusters[0] as (typeof plan.clusters)[number]), unreachableSeconds: 60 };
    let now = NOW;
    const { deps } = fakes(stand, { engines: { ssmFor: () => ssm }, now: () => now });
    const input = { deployment: plan.deployment, cluster };

    // act: the first failure, one within the bound, one past it
    const first = await caught(() => preflightStep(deps, input));
    now = new Date(NOW.getTime() + 59_000);
    const within = await caught(() => preflightStep(deps, input));
    now = new Date(NOW.getTime() + 61_000);
    const past = await caught(() => preflightStep(deps, input));

    // assess
    expect([first.name, first.retryable]).toEqual(['SessionStartError', true]);
    expect([within.name, within.retryable]).toEqual(['SessionStartError', true]);
    expect([past.name, past.retryable]).toEqual(['ClusterUnreachableError', false]);
    expect(past.message).toMatch(
      /^cluster a \(mi-a\) has been unreachable for 61 s \(bound 60 s; last: SessionStartError: .*\); its state could not be verified$/,
    );
  });
});
