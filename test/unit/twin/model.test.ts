/**
 * The twin's model of the stack (local/twin/model-main.ts, the Pulumi program under mocks) keeps
 * each EventBridge rule as the runtime needs it: the pattern of a pattern rule, the schedule of a
 * scheduled one, with the targets and the permission that lets EventBridge invoke them from exactly
 * the ARN the local bus gives the rule. No fleet: the program only.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { LocalEventBus, scheduledEvent } from '../../../local/runtime/eventbridge/index.js';
import { ACCOUNT, NAME_PREFIX, REGION } from '../../../local/runtime/runtime.js';
import { loadStackModel, type StackModel } from '../../../local/twin/model.js';
import { ensureBundles } from '../../infra/mocks.js';

const HANDLERS_WITH_RULES = ['start-deployment', 'reap-execution', 'refresh-registry-auth'];

let model: StackModel;
beforeAll(async () => {
  const { HANDLERS } = await import('../../../infra/handlers.js');
  ensureBundles(HANDLERS);
  const config = JSON.parse(
    readFileSync(new URL('../../../local/runtime/config.json', import.meta.url), 'utf8'),
  ) as { clusters: unknown[]; services: unknown[] };
  // As startLocalRuntime loads it.
  model = await loadStackModel({
    region: REGION,
    account: ACCOUNT,
    config: {
      namePrefix: NAME_PREFIX,
      prefix: '/deployer',
      clusters: config.clusters,
      services: config.services,
      logRetentionDays: 1,
      api: { allowedPrincipals: [`arn:aws:iam::${ACCOUNT}:root`] },
    },
  });
}, 180_000);

describe('the stack model’s rules', () => {
  const bus = new LocalEventBus({ region: REGION, accountId: ACCOUNT });
  const fnArn = (h: string) => `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${NAME_PREFIX}-${h}`;
  const ruleFor = (h: string) => {
    const found = model.rules.filter((r) => r.targets.some((t) => t.arn === fnArn(h)));
    expect(found, h).toHaveLength(1);
    return found[0] as StackModel['rules'][number];
  };

  it('keeps the schedule of the registry-auth rule, which has no pattern', () => {
    const rule = ruleFor('refresh-registry-auth');
    expect(rule.name).toMatch(/^trigger-registry-auth-[0-9a-f]{7}$/);
    expect(rule.schedule).toBe('rate(6 hours)');
    expect(rule.pattern).toBeUndefined();
    expect(rule.targets).toEqual([
      {
        arn: fnArn('refresh-registry-auth'),
        retryPolicy: { maximumEventAgeInSeconds: 3600, maximumRetryAttempts: 20 },
        deadLetterArn: model.deadLetterQueue?.arn,
      },
    ]);
  });

  it('keeps the patterns of the pattern rules, which have no schedule', () => {
    for (const h of ['start-deployment', 'reap-execution']) {
      const rule = ruleFor(h);
      expect(rule.pattern, h).toBeInstanceOf(Object);
      expect(rule.schedule, h).toBeUndefined();
    }
    expect(model.rules).toHaveLength(HANDLERS_WITH_RULES.length);
  });

  it("lets EventBridge invoke each target from its rule's ARN on the local bus only", () => {
    for (const h of HANDLERS_WITH_RULES) {
      const rule = ruleFor(h);
      const fromEvents = model.permissions.filter(
        (p) => p.functionName === `${NAME_PREFIX}-${h}` && p.principal === 'events.amazonaws.com',
      );
      expect(fromEvents, h).toEqual([
        {
          functionName: `${NAME_PREFIX}-${h}`,
          principal: 'events.amazonaws.com',
          action: 'lambda:InvokeFunction',
          sourceArn: bus.ruleArn(rule.name),
        },
      ]);
    }
    // The scheduled event names that same ARN.
    const rule = ruleFor('refresh-registry-auth');
    expect(
      scheduledEvent({ arn: bus.ruleArn(rule.name), account: ACCOUNT, region: REGION }).resources,
    ).toEqual([
      model.permissions.find((p) => p.functionName === `${NAME_PREFIX}-refresh-registry-auth`)?.sourceArn,
    ]);
  });

  it('deploys the refresh function like every other: its bundle, environment and own role', () => {
    const fn = model.functions.find((f) => f.handler === 'refresh-registry-auth');
    expect(fn?.name).toBe(`${NAME_PREFIX}-refresh-registry-auth`);
    expect(fn?.timeoutSeconds).toBe(900);
    expect(fn?.environment).toMatchObject({ DEPLOYER_PREFIX: '/deployer', DEPLOYER_TABLE: model.table.name });
    expect(fn?.role.policies.map((p) => p.name).sort()).toEqual([
      'functions-refresh-registry-auth',
      'functions-refresh-registry-auth-logs',
    ]);
  });
});
