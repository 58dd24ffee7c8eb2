import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withPrometheus } from '../../../functions/lib/clusters/connect.js';
import type { PlannedCluster } from '../../../functions/lib/deploy/plan.js';
import { METRIC } from '../../../functions/lib/metrics.js';
import { closeAllTunnels, tunnelPool } from '../../../functions/lib/ssm/pool.js';
import { type StandInAgent, startAgent } from '../../../local/ssm/agent.js';
import { type SsmStandIn, startSsmStandIn } from '../../../local/ssm/stand-in.js';
import { type CountingServer, engineServer, listen, ssmClient } from '../ssm/harness.js';
import { captureStdout } from './emf-capture.js';

/**
 * SSM session open time and reuses, recorded around the container's tunnel pool in
 * functions/lib/clusters/connect.ts: real sessions through the SSM stand-in and its agent to a
 * loopback port standing for Prometheus.
 */

const TARGET = 'mi-0a1b2c3d4e5f60077';
let standIn: SsmStandIn;
let agent: StandInAgent;
let prometheus: CountingServer<ReturnType<typeof engineServer>>;
let ssm: ReturnType<typeof ssmClient>;
const out = captureStdout();

beforeAll(async () => {
  standIn = await startSsmStandIn({});
  agent = await startAgent({ mgsUrl: standIn.mgsUrl, target: TARGET });
  await standIn.waitForAgent(TARGET);
  prometheus = await listen(engineServer());
  ssm = ssmClient(standIn.endpoint);
});

afterAll(async () => {
  await closeAllTunnels();
  ssm?.destroy();
  await agent?.stop();
  await standIn?.stop();
  await prometheus?.close();
});

const cluster = (): PlannedCluster => ({
  name: 'c7',
  region: 'us-east-1',
  target: TARGET,
  engine: { port: 2375, document: 'AWS-StartPortForwardingSession' },
  prometheus: { tunnelPort: prometheus.port },
  minEngineVersion: '20.10.0',
});

describe('SSM session open time and reuses', () => {
  it("records the opening of a cluster's tunnel, by cluster, once the session is open", async () => {
    // Arrange
    const started = Date.now();

    // Act
    const answer = await withPrometheus({ ssmFor: () => ssm }, cluster(), undefined, async () => 'reached');
    const elapsed = Date.now() - started;

    // Assert
    expect(answer).toBe('reached');
    const records = out.withMetric(METRIC.ssmSessionOpenTime);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ service: 'swarm-deployer', cluster: 'c7' });
    const ms = records[0]?.SsmSessionOpenTime as number;
    expect(ms).toBeGreaterThan(0);
    expect(ms).toBeLessThanOrEqual(elapsed);
    expect(out.withMetric(METRIC.ssmSessionReuses)).toEqual([]);
  });

  it('records a reuse, and no open time, when the next call finds the session open', async () => {
    // Act
    const answer = await withPrometheus({ ssmFor: () => ssm }, cluster(), undefined, async () => 'again');

    // Assert
    expect(answer).toBe('again');
    expect(out.withMetric(METRIC.ssmSessionOpenTime)).toEqual([]);
    const reuses = out.withMetric(METRIC.ssmSessionReuses);
    expect(reuses).toHaveLength(1);
    expect(reuses[0]).toMatchObject({ service: 'swarm-deployer', cluster: 'c7', SsmSessionReuses: 1 });
    expect(reuses[0]?._aws.CloudWatchMetrics[0]).toMatchObject({
      Namespace: 'SwarmDeployer',
      Dimensions: [['service', 'cluster'], ['service']],
      Metrics: [{ Name: 'SsmSessionReuses', Unit: 'Count' }],
    });
    expect(tunnelPool().stats()).toMatchObject({ opened: 1, reused: 1, size: 1 });
    expect(standIn.sessions().filter((s) => s.target === TARGET)).toHaveLength(1);
  });
});
