import { afterEach, describe, expect, it } from 'vitest';
import { matchesPattern } from '../../../local/runtime/eventbridge/index.js';
import {
  type EcrImageActionEvent,
  type RegistryEventListener,
  startRegistryEventListener,
  toEcrImageActionEvents,
} from '../../../local/runtime/registry-events/index.js';
import { fixture, until } from './harness.js';

/**
 * Six notification requests recorded from Debian's docker-registry 2.8.2 (htpasswd auth, the
 * fleet's notification settings): two blob uploads, the manifest PUT by tag (v1.2.3), the same
 * manifest PUT by digest, and a DELETE of the manifest by digest, which the registry reports as
 * a manifest delete and a tag delete.
 */
const RECORDED = JSON.parse(fixture('registry-envelopes.recorded.json')) as Array<{
  headers: Record<string, string>;
  body: { events: Array<{ id: string; timestamp: string; target: { digest?: string } }> };
}>;
const DIGEST = 'sha256:ead01a833e1ff10edc2427bb520a659a6fbbe242cb7ed328075626be544cfe6e';

const DEPLOYER_RULE = {
  source: ['aws.ecr'],
  'detail-type': ['ECR Image Action'],
  detail: { 'action-type': ['PUSH'], result: ['SUCCESS'], 'repository-name': ['demo'] },
};

describe('registry envelope → ECR "ECR Image Action" events', () => {
  it('turns manifest pushes and deletes into ECR events, and blobs and tag-only deletes into nothing', () => {
    const events = RECORDED.flatMap((request) =>
      toEcrImageActionEvents(request.body, { region: 'eu-west-1', accountId: '123456789012' }),
    );

    expect(events.map((e) => e.detail)).toEqual([
      {
        result: 'SUCCESS',
        'repository-name': 'demo',
        'image-digest': DIGEST,
        'action-type': 'PUSH',
        'image-tag': 'v1.2.3',
      },
      { result: 'SUCCESS', 'repository-name': 'demo', 'image-digest': DIGEST, 'action-type': 'PUSH' },
      { result: 'SUCCESS', 'repository-name': 'demo', 'image-digest': DIGEST, 'action-type': 'DELETE' },
    ]);
    const pushed = RECORDED[2]?.body.events[0];
    expect(events[0]).toEqual({
      version: '0',
      id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/),
      'detail-type': 'ECR Image Action',
      source: 'aws.ecr',
      account: '123456789012',
      time: `${pushed?.timestamp.slice(0, 19)}Z`,
      region: 'eu-west-1',
      resources: [],
      detail: expect.any(Object),
    });
    expect(Object.keys(events[0] as object)).toEqual([
      'version',
      'id',
      'detail-type',
      'source',
      'account',
      'time',
      'region',
      'resources',
      'detail',
    ]);
  });

  it("matches the deployer's rule for pushes only", () => {
    const events = RECORDED.flatMap((request) => toEcrImageActionEvents(request.body));

    expect(events.map((e) => matchesPattern(DEPLOYER_RULE, e))).toEqual([true, true, false]);
  });

  it('passes duplicates on: a re-sent envelope gives the same events again, ids included', () => {
    const body = RECORDED[2]?.body;

    const first = toEcrImageActionEvents(body);
    const again = toEcrImageActionEvents(body);

    expect(again).toEqual(first);
    expect(first).toHaveLength(1);
  });

  it('reads OCI manifests and ignores what it does not understand', () => {
    const oci = {
      events: [
        {
          id: 'e1',
          timestamp: '2024-01-02T03:04:05.999999999Z',
          action: 'push',
          target: {
            mediaType: 'application/vnd.oci.image.index.v1+json',
            digest: 'sha256:1',
            repository: 'team/app',
            tag: 'v2',
          },
        },
        { id: 'e2', timestamp: 'x', action: 'mount', target: { digest: 'sha256:2', repository: 'team/app' } },
        { id: 'e3', timestamp: 'x', action: 'pull', target: { digest: 'sha256:3', repository: 'team/app' } },
        { id: 'e4', action: 'push' },
      ],
    };

    const events = toEcrImageActionEvents(oci);

    expect(events).toHaveLength(1);
    expect(events[0]?.detail).toEqual({
      result: 'SUCCESS',
      'repository-name': 'team/app',
      'image-digest': 'sha256:1',
      'action-type': 'PUSH',
      'image-tag': 'v2',
    });
    expect(events[0]?.time).toBe('2024-01-02T03:04:05Z');
    expect(toEcrImageActionEvents({ nope: true })).toEqual([]);
    expect(toEcrImageActionEvents(null)).toEqual([]);
  });
});

describe('startRegistryEventListener', () => {
  let listener: RegistryEventListener | undefined;
  afterEach(async () => {
    await listener?.close();
    listener = undefined;
  });

  it('answers 200 before the events are handled, then hands them over in order', async () => {
    const received: EcrImageActionEvent[] = [];
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    listener = await startRegistryEventListener({
      host: '127.0.0.1',
      port: 0,
      path: '/registry-events',
      onEvent: async (event) => {
        await gate;
        received.push(event);
      },
    });

    const statuses: number[] = [];
    for (const request of RECORDED) {
      const response = await fetch(listener.url, {
        method: 'POST',
        headers: { 'content-type': request.headers['content-type'] as string },
        body: JSON.stringify(request.body),
      });
      statuses.push(response.status);
    }
    const handledBeforeRelease = received.length;
    release();
    await until(() => received.length === 3);

    expect(listener.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/registry-events$/);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200]);
    expect(handledBeforeRelease).toBe(0);
    expect(received.map((e) => [e.detail['action-type'], e.detail['image-tag']])).toEqual([
      ['PUSH', 'v1.2.3'],
      ['PUSH', undefined],
      ['DELETE', undefined],
    ]);
  });

  it('refuses other paths, other methods, non-JSON bodies and a wrong Authorization', async () => {
    const errors: unknown[] = [];
    listener = await startRegistryEventListener({
      onEvent: () => {},
      authorization: 'Bearer local',
      onError: (err) => errors.push(err),
    });
    const auth = { authorization: 'Bearer local' };
    const base = listener.url.replace(/\/registry-events$/, '');

    const wrongPath = await fetch(`${base}/other`, { method: 'POST', headers: auth, body: '{}' });
    const wrongMethod = await fetch(listener.url, { headers: auth });
    const notJson = await fetch(listener.url, { method: 'POST', headers: auth, body: '{"events": [' });
    const noAuth = await fetch(listener.url, { method: 'POST', body: '{"events":[]}' });
    const ok = await fetch(listener.url, { method: 'POST', headers: auth, body: '{"events":[]}' });

    expect([wrongPath.status, wrongMethod.status, notJson.status, noAuth.status, ok.status]).toEqual([
      404, 405, 400, 401, 200,
    ]);
    expect(errors).toHaveLength(1);
  });

  it('keeps going when onEvent throws', async () => {
    const errors: unknown[] = [];
    const seen: string[] = [];
    listener = await startRegistryEventListener({
      onEvent: (event) => {
        seen.push(event.detail['action-type']);
        if (seen.length === 1) throw new Error('bus is down');
      },
      onError: (err) => errors.push(err),
    });

    for (const request of RECORDED.slice(2, 4)) {
      await fetch(listener.url, { method: 'POST', body: JSON.stringify(request.body) });
    }
    await until(() => seen.length === 2);

    expect(errors).toEqual([new Error('bus is down')]);
  });
});
