import { SSMClient, StartSessionCommand } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { perRegion } from '../../../functions/lib/aws.js';
import { withEngine } from '../../../functions/lib/clusters/connect.js';
import type { PlannedCluster } from '../../../functions/lib/deploy/plan.js';

const ssmMock = mockClient(SSMClient);

const cluster = (name: string, region: string): PlannedCluster => ({
  name,
  region,
  target: `mi-${name}`,
  engine: { port: 2375, document: 'AWS-StartPortForwardingSession' },
  prometheus: { tunnelPort: 9090 },
  minEngineVersion: '20.10.0',
});

describe('reaching clusters in their own regions', () => {
  afterEach(() => ssmMock.reset());

  it('builds one client per region, on first use', () => {
    const regions: string[] = [];
    const clientFor = perRegion((region) => {
      regions.push(region);
      return { region };
    });
    expect(regions).toEqual([]);
    const west = clientFor('eu-west-1');
    expect(clientFor('eu-west-1')).toBe(west);
    expect(clientFor('us-east-2')).not.toBe(west);
    expect(regions).toEqual(['eu-west-1', 'us-east-2']);
  });

  it('opens the tunnel to each cluster with an SSM client of its region', async () => {
    // prepare: StartSession is refused, so only the choice of client is exercised
    ssmMock
      .on(StartSessionCommand)
      .rejects(Object.assign(new Error('denied'), { name: 'AccessDeniedException', $metadata: {} }));
    const built = new Map<string, SSMClient>();
    const ssmFor = perRegion((region) => {
      const client = new SSMClient({ region });
      built.set(region, client);
      return client;
    });

    // act
    for (const c of [cluster('eu', 'eu-west-1'), cluster('us', 'us-east-2'), cluster('eu2', 'eu-west-1')]) {
      await expect(withEngine({ ssmFor }, c, undefined, async () => 'unreached')).rejects.toMatchObject({
        name: 'SessionStartError',
      });
    }

    // assess
    const calls = ssmMock.commandCalls(StartSessionCommand);
    expect(calls.map((c) => c.args[0].input.Target)).toEqual(['mi-eu', 'mi-us', 'mi-eu2']);
    expect(calls.map((c) => c.thisValue)).toEqual([
      built.get('eu-west-1'),
      built.get('us-east-2'),
      built.get('eu-west-1'),
    ]);
    expect([...built.keys()]).toEqual(['eu-west-1', 'us-east-2']);
    expect(await built.get('us-east-2')?.config.region()).toBe('us-east-2');
  });
});
