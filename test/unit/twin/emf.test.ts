import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { AnalysisFailedError } from '../../../functions/lib/deploy/errors.js';
import { stepHandler } from '../../../functions/lib/handler.js';
import * as z from '../../../functions/lib/zod.js';
import { BUCKETS_SECONDS, EmfAggregator, snakeCase } from '../../../local/twin/emf.js';
import { LocalFunction } from '../../../local/twin/lambda.js';
import {
  EXPOSITION_CONTENT_TYPE,
  type MetricsServer,
  startMetricsServer,
} from '../../../local/twin/metrics-server.js';
import type { ModelFunction } from '../../../local/twin/model.js';
import { captureStdout, lambdaContext } from '../metrics/emf-capture.js';

/**
 * The twin's CloudWatch: EMF records from the functions' logs, aggregated and exposed in the
 * Prometheus text format for the fleet's Prometheus.
 */

const T = 1_900_000_000_000;

/** An EMF record as Powertools writes it: one directive, the values at the root. */
function emf(
  metrics: Array<{ Name: string; Unit?: string }>,
  dimensions: string[][],
  values: Record<string, unknown>,
  namespace = 'SwarmDeployer',
) {
  return {
    _aws: {
      Timestamp: T,
      CloudWatchMetrics: [{ Namespace: namespace, Dimensions: dimensions, Metrics: metrics }],
    },
    ...values,
  };
}

/** The exposition's sample lines (no comments), as a name{labels} → value map. */
function samples(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), line.slice(at + 1));
  }
  return out;
}

describe('EMF records to the Prometheus text format', () => {
  it('turns a Count into a counter (_total) summed over records, labelled by the dimensions of every set', () => {
    // Arrange
    const a = new EmfAggregator();
    const succeeded = (service: string) =>
      JSON.stringify(
        emf([{ Name: 'DeploymentsSucceeded', Unit: 'Count' }], [['service'], []], {
          service,
          DeploymentsSucceeded: 1,
        }),
      );

    // Act
    for (const s of ['web', 'web', 'api']) expect(a.ingestLine(succeeded(s))).toBe(true);

    // Assert: [service] and [] are one series with the label (Prometheus sums without it at query time).
    expect(a.exposition()).toBe(
      [
        '# HELP swarm_deployer_deployments_succeeded_total SwarmDeployer/DeploymentsSucceeded (EMF, Count)',
        '# TYPE swarm_deployer_deployments_succeeded_total counter',
        'swarm_deployer_deployments_succeeded_total{service="api"} 1',
        'swarm_deployer_deployments_succeeded_total{service="web"} 2',
        '# HELP emf_records_rejected_total EMF records dropped as CloudWatch would drop them (malformed, values missing)',
        '# TYPE emf_records_rejected_total counter',
        'emf_records_rejected_total 0',
        '',
      ].join('\n'),
    );
    expect(a.accepted).toBe(3);
  });

  it('turns times into histograms in seconds: cumulative buckets, sum and count; an array is one observation per value', () => {
    // Arrange
    const a = new EmfAggregator();

    // Act
    a.ingest(
      emf([{ Name: 'StepLatency', Unit: 'Milliseconds' }], [['service', 'step']], {
        service: 'swarm-deployer',
        step: 'Plan',
        StepLatency: [40, 700],
      }),
    );
    a.ingest(
      emf([{ Name: 'TimeToDeploy', Unit: 'Seconds' }], [['service']], { service: 'web', TimeToDeploy: 95 }),
    );
    a.ingest(emf([{ Name: 'Probe', Unit: 'Microseconds' }], [[]], { Probe: 250_000 }));

    // Assert
    const text = a.exposition();
    expect(text).toContain('# TYPE swarm_deployer_step_latency_seconds histogram');
    const s = samples(text);
    const step = 'service="swarm-deployer",step="Plan"';
    expect(s.get(`swarm_deployer_step_latency_seconds_bucket{${step},le="0.05"}`)).toBe('1');
    expect(s.get(`swarm_deployer_step_latency_seconds_bucket{${step},le="0.5"}`)).toBe('1');
    expect(s.get(`swarm_deployer_step_latency_seconds_bucket{${step},le="1"}`)).toBe('2');
    expect(s.get(`swarm_deployer_step_latency_seconds_bucket{${step},le="+Inf"}`)).toBe('2');
    expect(Number(s.get(`swarm_deployer_step_latency_seconds_sum{${step}}`))).toBeCloseTo(0.74, 9);
    expect(s.get(`swarm_deployer_step_latency_seconds_count{${step}}`)).toBe('2');
    expect(s.get('swarm_deployer_time_to_deploy_seconds_bucket{service="web",le="60"}')).toBe('0');
    expect(s.get('swarm_deployer_time_to_deploy_seconds_bucket{service="web",le="120"}')).toBe('1');
    expect(s.get('swarm_deployer_time_to_deploy_seconds_sum{service="web"}')).toBe('95');
    expect(s.get('swarm_deployer_probe_seconds_sum')).toBe('0.25');
    // Every bucket, in order, then +Inf.
    const les = [...text.matchAll(/swarm_deployer_probe_seconds_bucket\{le="([^"]+)"\}/g)].map((m) => m[1]);
    expect(les).toEqual([...BUCKETS_SECONDS.map(String), '+Inf']);
  });

  it('keeps the latest value of any other unit as a gauge', () => {
    // Arrange
    const a = new EmfAggregator();

    // Act
    a.ingest(emf([{ Name: 'QueueDepth' }], [[]], { QueueDepth: 3 }));
    a.ingest(emf([{ Name: 'QueueDepth' }], [[]], { QueueDepth: 5 }));
    a.ingest(emf([{ Name: 'Payload', Unit: 'Bytes' }], [[]], { Payload: [10, 20] }));

    // Assert
    const text = a.exposition();
    expect(text).toContain('# TYPE swarm_deployer_queue_depth gauge');
    expect(samples(text).get('swarm_deployer_queue_depth')).toBe('5');
    expect(samples(text).get('swarm_deployer_payload_bytes')).toBe('20');
  });

  it('drops what CloudWatch would reject, and counts it', () => {
    // Arrange
    const a = new EmfAggregator();
    const bad = [
      // a dimension without its value
      emf([{ Name: 'DeploymentsFailed', Unit: 'Count' }], [['service']], { DeploymentsFailed: 1 }),
      // a metric without a number
      emf([{ Name: 'DeploymentsFailed', Unit: 'Count' }], [['service']], {
        service: 'web',
        DeploymentsFailed: 'one',
      }),
      // no Timestamp
      { _aws: { CloudWatchMetrics: [] }, service: 'web' },
      // a counter going down
      emf([{ Name: 'DeploymentsFailed', Unit: 'Count' }], [[]], { DeploymentsFailed: -1 }),
      // a directive without a namespace
      { _aws: { Timestamp: T, CloudWatchMetrics: [{ Dimensions: [[]], Metrics: [{ Name: 'X' }] }] }, X: 1 },
    ];

    // Act
    for (const r of bad) expect(a.ingestLine(JSON.stringify(r))).toBe(true);

    // Assert
    expect(a.rejected).toBe(5);
    expect(a.accepted).toBe(0);
    expect(samples(a.exposition())).toEqual(new Map([['emf_records_rejected_total', '5']]));
  });

  it('ignores lines that are not EMF records: log lines, text, broken JSON', () => {
    // Arrange
    const a = new EmfAggregator();

    // Act
    const taken = [
      '{"level":"INFO","message":"step done","service":"swarm-deployer","step":"Plan","ms":3}',
      'START RequestId: 1 Version: $LATEST',
      '{"_aws": {"CloudWatchMetrics": [',
      '',
    ].map((l) => a.ingestLine(l));

    // Assert
    expect(taken).toEqual([false, false, false, false]);
    expect(a.accepted + a.rejected).toBe(0);
  });

  it('makes names and labels Prometheus can read, and escapes label values', () => {
    // Arrange
    const a = new EmfAggregator();

    // Act
    a.ingest(
      emf(
        [{ Name: 'HTTPRequests.Served', Unit: 'Count' }],
        [['my-dim', 'le', '9lives']],
        {
          'my-dim': 'a "quoted" \\ value\nnext',
          le: 'x',
          '9lives': 'y',
          'HTTPRequests.Served': 2,
        },
        'AWS/Custom',
      ),
    );

    // Assert
    expect(snakeCase('SsmSessionOpenTime')).toBe('ssm_session_open_time');
    expect(snakeCase('TimeToRollBack')).toBe('time_to_roll_back');
    expect(
      samples(a.exposition()).get(
        'aws_custom_http_requests_served_total{_9lives="y",exported_le="x",my_dim="a \\"quoted\\" \\\\ value\\nnext"}',
      ),
    ).toBe('2');
  });
});

describe("the deployer's own records, through the twin", () => {
  const out = captureStdout();

  it('exposes the metrics of a good and a bad deployment as the steps wrote them', async () => {
    // Arrange
    const step = (name: string, answer: () => Promise<unknown>) =>
      stepHandler(name, z.looseObject({}), {}, async () => answer());
    const good = { id: 'web-2', service: 'web', plannedAt: new Date(Date.now() - 120_000).toISOString() };
    const bad = { id: 'web-3', service: 'web', plannedAt: new Date(Date.now() - 30_000).toISOString() };

    // Act: the good one promoted, the bad one rolled back after its analysis failed.
    await step('AcquireLock', async () => ({ status: 'acquired' }))(
      { plan: { deployment: good } },
      lambdaContext(),
    );
    await step('Analyze', async () => ({ phase: 'Successful', done: true }))(
      { deployment: good },
      lambdaContext(),
    );
    await step('Complete', async () => ({ outcome: 'succeeded' }))({ deployment: good }, lambdaContext());
    await step('AcquireLock', async () => ({ status: 'busy' }))(
      { plan: { deployment: bad } },
      lambdaContext(),
    );
    await step('AcquireLock', async () => ({ status: 'acquired' }))(
      { plan: { deployment: bad } },
      lambdaContext(),
    );
    await step('Analyze', async () => {
      throw new AnalysisFailedError('analysis Failed on c1: error rate 0.3 > 0.05');
    })({ deployment: bad }, lambdaContext()).catch(() => {});
    await step('ConcludeRollback', async () => ({ outcome: 'rolled-back' }))(
      { deployment: bad },
      lambdaContext(),
    );
    const a = new EmfAggregator();
    for (const line of out.lines) a.ingestLine(line);

    // Assert
    expect(a.rejected).toBe(0);
    const s = samples(a.exposition());
    expect(s.get('swarm_deployer_deployments_started_total{service="web"}')).toBe('2');
    expect(s.get('swarm_deployer_deployments_succeeded_total{service="web"}')).toBe('1');
    expect(s.get('swarm_deployer_deployments_rolled_back_total{service="web"}')).toBe('1');
    expect(s.get('swarm_deployer_lock_waits_total{service="web"}')).toBe('1');
    expect(s.get('swarm_deployer_analysis_verdicts_total{service="web",verdict="Successful"}')).toBe('1');
    expect(s.get('swarm_deployer_analysis_verdicts_total{service="web",verdict="Failed"}')).toBe('1');
    expect(s.get('swarm_deployer_time_to_deploy_seconds_count{service="web"}')).toBe('1');
    expect(Number(s.get('swarm_deployer_time_to_deploy_seconds_sum{service="web"}'))).toBeGreaterThanOrEqual(
      120,
    );
    expect(s.get('swarm_deployer_time_to_roll_back_seconds_count{service="web"}')).toBe('1');
    expect(
      s.get('swarm_deployer_step_latency_seconds_count{service="swarm-deployer",step="AcquireLock"}'),
    ).toBe('3');
    expect(s.get('swarm_deployer_step_errors_total{service="swarm-deployer",step="Analyze"}')).toBe('1');
    expect(s.get('swarm_deployer_step_errors_total{service="swarm-deployer",step="Complete"}')).toBe('0');
    expect([...s.keys()].filter((k) => k.startsWith('swarm_deployer_deployments_failed'))).toEqual([]);
  });
});

describe('the metrics endpoint, fed by the functions of the twin', () => {
  const dir = mkdtempSync(join(tmpdir(), 'twin-emf-'));
  let server: MetricsServer | undefined;
  const functions: LocalFunction[] = [];
  afterEach(async () => {
    await server?.close();
    server = undefined;
    for (const f of functions.splice(0)) await f.close();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('serves GET /metrics in the text format, 404 elsewhere, 405 for other methods', async () => {
    // Arrange
    server = await startMetricsServer();
    server.aggregator.ingest(
      emf([{ Name: 'LockWaits', Unit: 'Count' }], [['service'], []], { service: 'api', LockWaits: 1 }),
    );

    // Act
    const res = await fetch(server.url);
    const body = await res.text();
    const missing = await fetch(new URL('/other', server.url));
    const post = await fetch(server.url, { method: 'POST' });

    // Assert
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(EXPOSITION_CONTENT_TYPE);
    expect(samples(body).get('swarm_deployer_lock_waits_total{service="api"}')).toBe('1');
    expect(missing.status).toBe(404);
    expect(post.status).toBe(405);
  });

  it("reads the EMF lines a function's bundle writes, through the function's log sink", async () => {
    // Arrange: a bundle that prints one EMF record and one log line per invocation.
    const codeDir = join(dir, 'emitter');
    mkdirSync(codeDir, { recursive: true });
    const record = JSON.stringify(
      emf([{ Name: 'DeploymentsRolledBack', Unit: 'Count' }], [['service'], []], {
        service: 'web',
        DeploymentsRolledBack: 1,
      }),
    );
    writeFileSync(
      join(codeDir, 'index.mjs'),
      `export const handler = async () => { process.stdout.write(${JSON.stringify(`${record}\n`)}); console.log('done'); return 1; };`,
    );
    const model: ModelFunction = {
      handler: 'emitter',
      name: 'twin-emitter',
      arn: 'arn:aws:lambda:us-east-1:000000000000:function:twin-emitter',
      codeDir,
      entry: 'index.handler',
      runtime: 'nodejs22.x',
      architectures: ['arm64'],
      timeoutSeconds: 5,
      memoryMb: 128,
      environment: {},
      role: { name: 'r', arn: 'arn:aws:iam::000000000000:role/r', policies: [] },
    };
    server = await startMetricsServer();
    const aggregator = server.aggregator;
    const from: string[] = [];
    const f = new LocalFunction(
      model,
      {},
      {
        onLogLine: (line, name) => {
          from.push(name);
          aggregator.ingestLine(line);
        },
      },
    );
    functions.push(f);

    // Act
    await f.invoke({});
    await f.invoke({});

    // Assert: the lines arrive from the worker's stdout shortly after the answers.
    await vi.waitFor(async () => {
      const body = await (await fetch(server?.url ?? '')).text();
      expect(samples(body).get('swarm_deployer_deployments_rolled_back_total{service="web"}')).toBe('2');
    });
    expect(new Set(from)).toEqual(new Set(['twin-emitter']));
    expect(f.logs).toContain('done');
  });
});
