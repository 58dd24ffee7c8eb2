import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import {
  actionsFor,
  alertJson,
  executionLink,
  JSON_MARKER,
  MAX_SUBJECT,
  type Notification,
  Notifier,
  redact,
  renderAlert,
  renderSubject,
  type Transition,
} from '../../../functions/lib/notify/notifier.js';

const STATE_MACHINE = 'arn:aws:states:eu-west-1:123456789012:stateMachine:deployer-deploy';
const EXECUTION = 'arn:aws:states:eu-west-1:123456789012:execution:deployer-deploy:web-v2-0f3a';
const CONSOLE = `https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/${EXECUTION}`;
const AT = new Date('2025-03-01T12:00:00.000Z');
const DIGEST = 'sha256:0f3a9c7d21be4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f';

const base: Notification = {
  transition: 'rolled-back',
  deploymentId: 'web-v2-0f3a',
  service: 'web',
  digest: DIGEST,
  tag: 'v2',
  summary: 'web v2 rolled back on c1: AnalysisFailedError: analysis Failed on c1: success-rate = 0.5',
  cluster: 'c1',
  details: { restored: ['c1'] },
};

/** What SNS accepts as a subject (and the twin's stand-in checks): printable ASCII, one line, < 100. */
function expectValidSubject(subject: string) {
  expect(subject.length).toBeLessThanOrEqual(MAX_SUBJECT);
  expect(subject.length).toBeLessThan(100);
  expect(subject).toMatch(/^[\x20-\x7e]+$/);
  expect(subject).not.toMatch(/[\r\n]/);
  expect(subject).toMatch(/^[A-Za-z0-9[]/);
}

describe('alert subject', () => {
  it('names the severity, service, tag, short digest, outcome and cluster', () => {
    expect(renderSubject(base)).toBe('[warning] web v2 (0f3a9c7d21be): rolled back on c1');
    expect(renderSubject({ ...base, transition: 'succeeded', cluster: undefined })).toBe(
      '[info] web v2 (0f3a9c7d21be): deployed',
    );
    expect(renderSubject({ ...base, transition: 'wave-promoted', key: 'two', cluster: undefined })).toBe(
      '[info] web v2 (0f3a9c7d21be): wave two promoted',
    );
    expect(renderSubject({ ...base, transition: 'rollback-failed', cluster: undefined })).toBe(
      '[critical] web v2 (0f3a9c7d21be): ROLLBACK FAILED',
    );
    // A push that failed before it was planned: no digest, no tag.
    expect(
      renderSubject({
        ...base,
        transition: 'deployment-failed',
        service: '(not planned)',
        digest: '',
        tag: '',
        cluster: undefined,
      }),
    ).toBe('[critical] (not planned): DEPLOYMENT FAILED');
  });

  it('stays within 100 printable ASCII characters on one line, keeping the outcome and cluster', () => {
    const long = {
      ...base,
      transition: 'analysis-failed' as const,
      service: `payments-${'very-long-service-name-'.repeat(8)}`,
      tag: `release-2025-03-01-${'x'.repeat(110)}`,
      cluster: 'eu-west-1-production-cluster-with-a-long-name',
    };
    const subject = renderSubject(long);
    expectValidSubject(subject);
    expect(subject).toBe(
      '[warning] payments-very-long-... (0f3a9c7d21be): canary analysis failed on eu-west-1-production-...',
    );

    for (const transition of TRANSITIONS) {
      for (const n of [
        { ...long, transition },
        { ...long, transition, tag: 'v2' },
        { ...long, transition, service: 'web' },
        { ...long, transition, key: 'k'.repeat(200), cluster: undefined },
        { ...long, transition, service: 'web\nSubject: forged', tag: 'v2\r\n\u00e9\u{1f680}\t\u0007' },
      ]) {
        const s = renderSubject(n);
        expectValidSubject(s);
        expect(s).toContain(n.transition === 'wave-promoted' ? 'promoted' : '): ');
      }
    }
    expect(renderSubject({ ...base, service: 'web\nSubject: forged', tag: 'v2\u00e9' })).toBe(
      '[warning] web Subject: forged v2? (0f3a9c7d21be): rolled back on c1',
    );
  });

  it('cuts a long tag first and keeps a short service whole', () => {
    const s = renderSubject({ ...base, tag: `build-${'1234567890'.repeat(12)}` });
    expectValidSubject(s);
    expect(s).toMatch(/^\[warning\] web build-12345\d*\.\.\. \(0f3a9c7d21be\): rolled back on c1$/);
  });
});

const TRANSITIONS: Transition[] = [
  'started',
  'canary-ready',
  'analysis-failed',
  'awaiting-approval',
  'wave-promoted',
  'succeeded',
  'rejected',
  'rolled-back',
  'rollback-failed',
  'partially-deployed',
  'deployment-failed',
];

describe('what to do', () => {
  it.each([
    ['awaiting-approval', ['deployer approve web-v2-0f3a', 'deployer reject web-v2-0f3a'], undefined],
    ['succeeded', ['deployer undo web', 'deployer status web-v2-0f3a'], undefined],
    [
      'rolled-back',
      ['deployer retry web --deployment web-v2-0f3a', 'deployer status web-v2-0f3a'],
      undefined,
    ],
    [
      'deployment-failed',
      ['deployer retry web --deployment web-v2-0f3a', 'deployer status web-v2-0f3a'],
      undefined,
    ],
    ['rollback-failed', ['deployer status web-v2-0f3a'], 'docs/runbook.md, section "Failed rollback"'],
    ['partially-deployed', ['deployer status web-v2-0f3a'], 'docs/runbook.md, section "Failed rollback"'],
    ['analysis-failed', ['deployer watch web-v2-0f3a', 'deployer status web-v2-0f3a'], undefined],
    ['started', ['deployer watch web-v2-0f3a', 'deployer abort web-v2-0f3a'], undefined],
    ['canary-ready', ['deployer watch web-v2-0f3a', 'deployer abort web-v2-0f3a'], undefined],
    ['wave-promoted', ['deployer watch web-v2-0f3a', 'deployer abort web-v2-0f3a'], undefined],
    ['rejected', ['deployer status web-v2-0f3a'], undefined],
  ] as const)('%s: %j', (transition, commands, runbook) => {
    expect(actionsFor({ ...base, transition })).toEqual(runbook ? { commands, runbook } : { commands });
    const { message } = renderAlert({ ...base, transition }, {}, AT);
    for (const c of commands) expect(message).toContain(`\n  ${c}\n`);
    if (runbook) expect(message).toContain(`\n  runbook: ${runbook}\n`);
  });

  it('offers no retry of a push that failed before it was planned', () => {
    expect(
      actionsFor({
        transition: 'deployment-failed',
        deploymentId: 'evt-1',
        service: '(not planned)',
        digest: '',
      }),
    ).toEqual({ commands: ['deployer status evt-1'] });
  });

  it('quotes an argument that is more than name characters', () => {
    expect(actionsFor({ ...base, transition: 'succeeded', service: "it's web" }).commands[0]).toBe(
      `deployer undo 'it'\\''s web'`,
    );
  });
});

describe('console link', () => {
  it('links to the execution named after the deployment', () => {
    expect(executionLink(STATE_MACHINE, 'web-v2-0f3a')).toEqual({
      executionArn: EXECUTION,
      console: CONSOLE,
    });
    expect(
      executionLink('arn:aws-cn:states:cn-north-1:123456789012:stateMachine:deployer-deploy', 'web-v2'),
    ).toEqual({
      executionArn: 'arn:aws-cn:states:cn-north-1:123456789012:execution:deployer-deploy:web-v2',
      console:
        'https://cn-north-1.console.amazonaws.cn/states/home?region=cn-north-1#/v2/executions/details/arn:aws-cn:states:cn-north-1:123456789012:execution:deployer-deploy:web-v2',
    });
  });

  it('is left out without a state machine, or with one that is not a state machine ARN', () => {
    expect(executionLink(undefined, 'web-v2')).toBeUndefined();
    expect(executionLink('arn:aws:sns:eu-west-1:123456789012:alerts', 'web-v2')).toBeUndefined();
    expect(executionLink(STATE_MACHINE, 'not a name')).toBeUndefined();
    const { message, json } = renderAlert(base, {}, AT);
    expect(message).not.toContain('Where:');
    expect(message).not.toContain('console.aws');
    expect(json).not.toHaveProperty('console');
    expect(json).not.toHaveProperty('execution');
  });
});

describe('alert body', () => {
  it('says what happened, why, where and what to run, then the JSON on its last line', () => {
    const { message, json } = renderAlert(
      {
        ...base,
        transition: 'analysis-failed',
        summary:
          'canary of web v2 on c1: analysis Failed: success-rate = 0.5 failed condition "result >= 0.9"',
        details: {
          measurements: [
            'decided by: success-rate = 0.5 failed condition "result >= 0.9" (round 3)',
            '[2025-03-01T11:59:00Z] round 3: Failed: success-rate = 0.5 failed condition "result >= 0.9"',
          ],
        },
      },
      { stateMachineArn: STATE_MACHINE },
      AT,
    );
    expect(message).toBe(
      [
        'canary of web v2 on c1: analysis Failed: success-rate = 0.5 failed condition "result >= 0.9"',
        '',
        'Why:',
        '  decided by: success-rate = 0.5 failed condition "result >= 0.9" (round 3)',
        '  [2025-03-01T11:59:00Z] round 3: Failed: success-rate = 0.5 failed condition "result >= 0.9"',
        '',
        'Where:',
        `  ${CONSOLE}`,
        `  execution ${EXECUTION}`,
        '',
        'What to do:',
        '  deployer watch web-v2-0f3a',
        '  deployer status web-v2-0f3a',
        '',
        'Deployment: web-v2-0f3a',
        'Service: web',
        `Image: v2 ${DIGEST}`,
        'Cluster: c1',
        'Transition: analysis-failed, severity warning',
        'At: 2025-03-01T12:00:00.000Z',
        '',
        JSON_MARKER,
        JSON.stringify(json),
      ].join('\n'),
    );
    expect(alertJson(message)).toEqual({
      transition: 'analysis-failed',
      severity: 'warning',
      deployment: 'web-v2-0f3a',
      service: 'web',
      tag: 'v2',
      digest: DIGEST,
      summary: 'canary of web v2 on c1: analysis Failed: success-rate = 0.5 failed condition "result >= 0.9"',
      cluster: 'c1',
      details: {
        measurements: [
          'decided by: success-rate = 0.5 failed condition "result >= 0.9" (round 3)',
          '[2025-03-01T11:59:00Z] round 3: Failed: success-rate = 0.5 failed condition "result >= 0.9"',
        ],
      },
      execution: EXECUTION,
      console: CONSOLE,
      commands: ['deployer watch web-v2-0f3a', 'deployer status web-v2-0f3a'],
      at: '2025-03-01T12:00:00.000Z',
    });
  });

  it('gives the reason or error of the details as the why, and the rest as details', () => {
    const { message } = renderAlert(
      {
        ...base,
        transition: 'rollback-failed',
        cluster: undefined,
        summary: 'ROLLBACK FAILED for web v2 on c2 after WaveFailedError: ...; restored: c1',
        details: { failed: 'c2: EngineUnreachableError: GET /version: timeout', restored: ['c1'], empty: [] },
      },
      { stateMachineArn: STATE_MACHINE },
      AT,
    );
    expect(message).toContain('\nWhy:\n  c2: EngineUnreachableError: GET /version: timeout\n');
    expect(message).toContain('\nDetails:\n  restored: c1');
    expect(message.slice(0, message.indexOf(JSON_MARKER))).not.toContain('empty'); // nothing to say
    expect(message).toContain('\n  runbook: docs/runbook.md, section "Failed rollback"\n');

    const wave = renderAlert(
      {
        ...base,
        transition: 'wave-promoted',
        key: 'two',
        cluster: undefined,
        summary: 'wave two of web runs v2 on c2',
        details: { promoted: ['c2', 'c3'], failed: [] },
      },
      {},
      AT,
    ).message;
    expect(wave).not.toContain('Why:');
    expect(wave).toContain('\nTransition: wave-promoted (two), severity info\n');
    expect(wave).toContain('\nDetails:\n  promoted: c2, c3\n');
    expect(
      renderAlert({ ...base, details: { reason: 'ApprovalRejectedError: wrong build' } }, {}, AT).message,
    ).toContain('\nWhy:\n  ApprovalRejectedError: wrong build\n');
  });

  it('keeps every line of text on its own line, however the summary is written', () => {
    const { message } = renderAlert({ ...base, summary: 'first\nsecond\r\nthird' }, {}, AT);
    expect(message.split('\n')[0]).toBe('first second third');
    expect(alertJson(message).summary).toBe('first\nsecond\r\nthird');
  });
});

describe('no secrets', () => {
  const secretDetails = {
    restored: ['c1'],
    token: 'tok-SECRET-1',
    taskToken: 'AAAA-SECRET-2',
    Authorization: 'Bearer SECRET-3',
    headers: { authorization: 'Basic SECRET-4', accept: 'application/json' },
    prometheus: { url: 'https://admin:SECRET-5@prom.internal:9090', password: 'SECRET-6' },
    clusters: [{ name: 'c1', credentials: { key: 'SECRET-7' }, client_secret: 'SECRET-8' }],
    reason: 'GET /api/v1/query failed with Authorization: Bearer SECRET-9 (api_token=SECRET-10)',
  };

  it('renders no value of a key that names a credential, nor credentials inside strings', () => {
    const { message, subject } = renderAlert(
      {
        ...base,
        summary: 'pull of https://bot:SECRET-11@registry.example.com failed; password=SECRET-12',
        details: secretDetails,
      },
      { stateMachineArn: STATE_MACHINE },
      AT,
    );
    expect(`${subject}\n${message}`).not.toMatch(/SECRET/);
    expect(message).toContain('https://[redacted]@prom.internal:9090');
    expect(message).toContain('Authorization: [redacted]');
    expect(message).toContain('restored: c1');
    expect(alertJson(message).details).toMatchObject({
      restored: ['c1'],
      token: '[redacted]',
      taskToken: '[redacted]',
      Authorization: '[redacted]',
      headers: { authorization: '[redacted]', accept: 'application/json' },
      prometheus: { url: 'https://[redacted]@prom.internal:9090', password: '[redacted]' },
      clusters: [{ name: 'c1', credentials: '[redacted]', client_secret: '[redacted]' }],
    });
  });

  it('leaves measurements and errors without credentials as they are', () => {
    const plain = {
      measurements: ['decided by: success-rate = 0.5 failed condition "result >= 0.9"'],
      reason: 'ApprovalRejectedError: rejected by arn:aws:iam::000000000000:user/alice: wrong build',
      tokens_per_second: 3,
    };
    expect(redact(plain)).toEqual({ ...plain, tokens_per_second: '[redacted]' });
    expect(redact('tokens = 0.5, auth_token_failures = 2')).toBe('tokens = 0.5, auth_token_failures = 2');
  });
});

describe('Notifier', () => {
  const snsMock = mockClient(SNSClient);
  afterEach(() => snsMock.reset());

  it('publishes the rendered subject and body, with the link when it knows the state machine', async () => {
    snsMock.on(PublishCommand).resolves({ MessageId: 'm1' });
    const notifier = new Notifier(
      new SNSClient({ region: 'eu-west-1' }),
      'arn:aws:sns:eu-west-1:123456789012:alerts',
      { firstTime: async () => true, forget: async () => {} },
      { stateMachineArn: STATE_MACHINE, now: () => AT },
    );
    await notifier.publish({ ...base, transition: 'awaiting-approval', cluster: undefined });
    const input = snsMock.commandCalls(PublishCommand)[0]?.args[0].input;
    expect(input?.Subject).toBe('[info] web v2 (0f3a9c7d21be): awaiting approval');
    expect(input?.Message).toContain(`\nWhere:\n  ${CONSOLE}\n`);
    expect(input?.Message).toContain(
      '\nWhat to do:\n  deployer approve web-v2-0f3a\n  deployer reject web-v2-0f3a\n',
    );
    expect(alertJson(input?.Message ?? '')).toMatchObject({
      transition: 'awaiting-approval',
      deployment: 'web-v2-0f3a',
      console: CONSOLE,
      at: AT.toISOString(),
    });
    expect(input?.MessageAttributes).toEqual({
      transition: { DataType: 'String', StringValue: 'awaiting-approval' },
      service: { DataType: 'String', StringValue: 'web' },
      severity: { DataType: 'String', StringValue: 'info' },
    });
  });
});
