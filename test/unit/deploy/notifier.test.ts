import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { alertJson, type Deduper, Notifier } from '../../../functions/lib/notify/notifier.js';

const snsMock = mockClient(SNSClient);
function memoryDeduper(): Deduper & { keys: Set<string> } {
  const keys = new Set<string>();
  return {
    keys,
    async firstTime(k) {
      if (keys.has(k)) return false;
      keys.add(k);
      return true;
    },
    forget: async (k) => void keys.delete(k),
  };
}
const n = {
  transition: 'rolled-back' as const,
  deploymentId: 'web-v2-abc',
  service: 'web',
  digest: 'sha256:abc',
  tag: 'v2',
  summary: 'rolled back on c1',
  cluster: 'c1',
};

describe('notifications', () => {
  afterEach(() => snsMock.reset());

  it('publishes one message per transition with attributes for filter policies', async () => {
    snsMock.on(PublishCommand).resolves({ MessageId: 'm1' });
    const notifier = new Notifier(
      new SNSClient({ region: 'us-east-1' }),
      'arn:aws:sns:us-east-1:1:alerts',
      memoryDeduper(),
    );
    expect(await notifier.publish(n)).toEqual({ sent: true });
    expect(await notifier.publish(n)).toEqual({ sent: false }); // a retried step
    const calls = snsMock.commandCalls(PublishCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]?.args[0].input;
    expect(input?.MessageAttributes).toEqual({
      transition: { DataType: 'String', StringValue: 'rolled-back' },
      service: { DataType: 'String', StringValue: 'web' },
      severity: { DataType: 'String', StringValue: 'warning' },
      cluster: { DataType: 'String', StringValue: 'c1' },
    });
    expect(alertJson(input?.Message ?? '')).toMatchObject({
      transition: 'rolled-back',
      severity: 'warning',
      deployment: 'web-v2-abc',
      summary: 'rolled back on c1',
    });
    expect(input?.Message?.split('\n')[0]).toBe('rolled back on c1');
    expect(input?.Subject).toBe('[warning] web v2 (abc): rolled back on c1');
  });

  it('forgets the dedupe mark when publishing fails, so that the retry sends it', async () => {
    const dedupe = memoryDeduper();
    snsMock
      .on(PublishCommand)
      .rejectsOnce(Object.assign(new Error('throttled'), { name: 'Throttling' }))
      .resolves({ MessageId: 'm2' });
    const notifier = new Notifier(
      new SNSClient({ region: 'us-east-1' }),
      'arn:aws:sns:us-east-1:1:alerts',
      dedupe,
    );
    await expect(notifier.publish(n)).rejects.toMatchObject({
      name: 'NotifyError',
      retryable: true,
      message: 'publishing "rolled-back" of web-v2-abc failed: Throttling',
    });
    expect(await notifier.publish(n)).toEqual({ sent: true });
  });
});
