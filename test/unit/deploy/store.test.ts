import { SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeploymentStore, type LockHolder } from '../../../functions/lib/deploy/store.js';
import type { Snapshot } from '../../../functions/lib/swarm/types.js';
import { type AwsStandIn, startAwsStandIn } from '../../../local/aws/index.js';

/** The store against the Parameter Store stand-in (its wire protocol, on loopback), with the real SDK client. */
describe('the deployment record in Parameter Store', () => {
  let aws: AwsStandIn;
  let store: DeploymentStore;
  let ssm: SSMClient;

  beforeAll(async () => {
    aws = await startAwsStandIn();
    ssm = new SSMClient({
      endpoint: aws.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
    });
    store = new DeploymentStore(ssm, '/deployer');
  });
  afterAll(async () => {
    ssm.destroy();
    await aws.stop();
  });

  const holder = (n: number): LockHolder => ({
    deploymentId: `d${n}`,
    executionArn: `arn:x:${n}`,
    digest: `sha256:${n}`,
    acquiredAt: 'now',
  });

  it('gives the lock to exactly one of many concurrent takers, and only its holder releases it', async () => {
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => store.acquireLock('web', holder(i))),
    );
    const winners = results.filter((r) => r.acquired);
    expect(winners).toHaveLength(1);
    const losers = results.filter((r) => !r.acquired) as Array<{ acquired: false; holder: LockHolder }>;
    const owner = losers[0]?.holder.deploymentId as string;
    expect(new Set(losers.map((l) => l.holder.deploymentId))).toEqual(new Set([owner]));
    expect(await store.releaseLock('web', 'someone-else')).toBe(false);
    expect(await store.releaseLock('web', owner)).toBe(true);
    expect((await store.acquireLock('web', holder(99))).acquired).toBe(true);
  });

  it('keeps the first snapshot of a cluster: a retry after a change cannot replace the rollback truth', async () => {
    const snap = (image: string): Snapshot => ({
      cluster: 'c1',
      service: 'web',
      serviceId: 's',
      specVersion: 3,
      image,
      digest: null,
      replicas: 3,
      takenAt: 't',
      spec: {
        Name: 'web',
        TaskTemplate: { ContainerSpec: { Image: image } },
        Labels: { big: 'x'.repeat(3000) },
      },
    });
    expect((await store.saveSnapshot('dep-1', snap('old'))).image).toBe('old');
    expect((await store.saveSnapshot('dep-1', snap('new'))).image).toBe('old');
    expect((await store.snapshot('dep-1', 'c1'))?.spec.Labels?.big).toHaveLength(3000);
  });

  it('lists touched clusters once each and forgets the record when asked', async () => {
    await store.markTouched('dep-2', 'c1', 'canary');
    await store.markTouched('dep-2', 'c1', 'primary');
    await store.markTouched('dep-2', 'c1', 'primary');
    await store.markTouched('dep-2', 'c3', 'primary');
    expect(await store.touched('dep-2')).toEqual(['c1', 'c3']);
    await store.requestAbort('dep-2', 'because');
    expect(await store.abortRequested('dep-2')).toBe('because');
    await store.deleteRecord('dep-2');
    expect(await store.touched('dep-2')).toEqual([]);
    expect(await store.abortRequested('dep-2')).toBeUndefined();
  });
});
