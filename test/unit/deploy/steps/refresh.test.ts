import { SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../../../functions/lib/config/store.js';
import { refreshRegistryAuth } from '../../../../functions/lib/deploy/refresh.js';
import { type AwsStandIn, startAwsStandIn } from '../../../../local/aws/index.js';
import { caught, configFor, executionArn, fakes, NOW, uniqueName, useStand } from './harness.js';

/** The scheduled refresh of stored registry credentials, up to the clusters (the fleet tests the rest). */
describe('refreshing the registry credentials of deployed services', () => {
  const stand = useStand();
  let ssmService: AwsStandIn;
  let ssm: SSMClient;

  beforeAll(async () => {
    // Managers whose agents never connect: every session fails (TargetNotConnected).
    ssmService = await startAwsStandIn({ host: '127.0.0.1', port: 0, knownTargets: ['mi-a', 'mi-b'] });
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

  it('skips a service a deployment holds, tries every other cluster, and names each failure', async () => {
    // prepare: two services; a deployment holds the first
    const held = configFor({ service: uniqueName('held'), clusters: ['a', 'b'] });
    const free = configFor({ service: uniqueName('free'), clusters: ['a', 'b'] });
    const config: Config = { clusters: held.clusters, policies: [...held.policies, ...free.policies] };
    const heldService = held.policies[0]?.service as string;
    const freeService = free.policies[0]?.service as string;
    await stand.record.acquireLock(heldService, {
      deploymentId: 'd-held',
      executionArn: executionArn('d-held'),
      digest: 'sha256:00',
      acquiredAt: NOW.toISOString(),
    });
    const { deps } = fakes(stand, { config: async () => config, engines: { ssmFor: () => ssm } });

    // act
    const err = await caught(() => refreshRegistryAuth(deps));

    // assess: left to the next scheduled run, naming both clusters of the free service and nothing held
    expect([err.name, err.retryable]).toEqual(['RegistryAuthRefreshError', false]);
    expect(err.message).toMatch(
      new RegExp(
        `^refreshing the registry credentials failed for ${freeService} on a \\(SessionStartError: .*\\); ${freeService} on b \\(SessionStartError: .*\\); refreshed: none$`,
      ),
    );
    expect(err.message).not.toContain(heldService);
  });
});
