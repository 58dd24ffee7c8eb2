import { afterEach, describe, expect, it } from 'vitest';
import { LocalEventBus, stepFunctionsTarget } from '../../../local/runtime/eventbridge/index.js';
import {
  type RegistryEventListener,
  startRegistryEventListener,
} from '../../../local/runtime/registry-events/index.js';
import { WorkflowEngine } from '../../../local/runtime/workflow/index.js';
import { fixture, fnArn, placeholder, until } from './harness.js';

const RECORDED = JSON.parse(fixture('registry-envelopes.recorded.json')) as Array<{ body: unknown }>;

let engine: WorkflowEngine | undefined;
let bus: LocalEventBus | undefined;
let listener: RegistryEventListener | undefined;
afterEach(async () => {
  await listener?.close();
  await bus?.close();
  await engine?.close();
  listener = bus = engine = undefined;
});

describe('registry push → EventBridge rule → Step Functions execution', () => {
  it('starts one execution per delivered push event, with the ECR event as input', async () => {
    engine = new WorkflowEngine();
    const plans: unknown[] = [];
    const { stateMachineArn } = await engine.registerStateMachine({
      name: 'deploy',
      definition: JSON.stringify({
        StartAt: 'Plan',
        States: {
          Plan: {
            Type: 'Task',
            Resource: placeholder('PlanFunctionArn'),
            Parameters: {
              'repository.$': '$.detail.repository-name',
              'digest.$': '$.detail.image-digest',
              'event.$': '$',
            },
            TimeoutSeconds: 5,
            End: true,
          },
        },
      }),
      substitutions: { PlanFunctionArn: fnArn('plan') },
      handlers: {
        plan: async (event) => {
          plans.push(event);
          return { planned: true };
        },
      },
    });
    bus = new LocalEventBus();
    bus.putRule({
      name: 'deployer-ecr-push',
      pattern: {
        source: ['aws.ecr'],
        'detail-type': ['ECR Image Action'],
        detail: { 'action-type': ['PUSH'], result: ['SUCCESS'], 'repository-name': ['demo'] },
      },
      targets: [stepFunctionsTarget(engine, stateMachineArn)],
    });
    const eventBus = bus;
    listener = await startRegistryEventListener({ onEvent: (event) => eventBus.publish(event) });

    for (const request of RECORDED) {
      await fetch(listener.url, { method: 'POST', body: JSON.stringify(request.body) });
    }
    // the registry re-sends the tagged push: delivered again, a second execution (no name on AWS either)
    await fetch(listener.url, { method: 'POST', body: JSON.stringify(RECORDED[2]?.body) });
    await until(() => plans.length === 3);
    await bus.idle();
    const { executions } = await engine.listExecutions({ stateMachineArn });
    for (const e of executions) await engine.waitForExecution(e.executionArn);

    expect(executions).toHaveLength(3);
    expect(plans[0]).toMatchObject({
      repository: 'demo',
      digest: 'sha256:ead01a833e1ff10edc2427bb520a659a6fbbe242cb7ed328075626be544cfe6e',
      event: { source: 'aws.ecr', 'detail-type': 'ECR Image Action', detail: { 'image-tag': 'v1.2.3' } },
    });
    expect(bus.deadLetters).toEqual([]);
  });
});

describe('test-speed options', () => {
  it('passes waitTimeOverrides and retryIntervalOverrides through, and scales the rest', async () => {
    engine = new WorkflowEngine({
      timeScale: 0.01,
      waitTimeOverrides: { Long: 0 },
      retryIntervalOverrides: { Flaky: 0 },
    });
    let attempts = 0;
    const { stateMachineArn } = await engine.registerStateMachine({
      name: 'speed',
      definition: JSON.stringify({
        StartAt: 'Long',
        States: {
          Long: { Type: 'Wait', Seconds: 86_400, Next: 'Scaled' },
          Scaled: { Type: 'Wait', Seconds: 20, Next: 'Until' },
          Until: { Type: 'Wait', TimestampPath: '$.at', Next: 'Flaky' },
          Flaky: {
            Type: 'Task',
            Resource: fnArn('flaky'),
            TimeoutSeconds: 5,
            Retry: [{ ErrorEquals: ['States.ALL'], IntervalSeconds: 3600, MaxAttempts: 3 }],
            Next: 'Backoff',
          },
          Backoff: {
            Type: 'Task',
            Resource: fnArn('flaky'),
            TimeoutSeconds: 5,
            Retry: [{ ErrorEquals: ['States.ALL'], IntervalSeconds: 10, BackoffRate: 2, MaxAttempts: 3 }],
            End: true,
          },
        },
      }),
      handlers: {
        flaky: async () => {
          attempts++;
          if (attempts % 3 !== 0) throw new Error('not yet');
          return attempts;
        },
      },
    });
    const at = new Date(Date.now() + 30_000).toISOString();
    const started = Date.now();

    const { executionArn } = await engine.startExecution({ stateMachineArn, input: JSON.stringify({ at }) });
    const result = await engine.waitForExecution(executionArn, 10_000);
    const elapsed = Date.now() - started;

    // Scaled: 20 s → 200 ms; Until: ~30 s → ~300 ms; Backoff: (10 + 20) s → 300 ms; Long and Flaky: overridden to 0
    expect(result.status).toBe('SUCCEEDED');
    expect(result.output).toBe('6');
    expect(elapsed).toBeGreaterThanOrEqual(750);
    expect(elapsed).toBeLessThan(5_000);
  });
});
