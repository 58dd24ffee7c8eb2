import { z } from 'zod';

/** The EventBridge event ECR emits for an image push or delete ("ECR Image Action"). */
export const ecrImageActionSchema = z.object({
  version: z.string(),
  id: z.string(),
  'detail-type': z.literal('ECR Image Action'),
  source: z.literal('aws.ecr'),
  account: z.string(),
  time: z.string(),
  region: z.string(),
  detail: z.object({
    result: z.string(),
    'repository-name': z.string().min(1),
    'image-digest': z.string().regex(/^sha256:[a-f0-9]{64}$/),
    'action-type': z.string(),
    'image-tag': z.string().optional(),
  }),
});

export type EcrImageAction = z.output<typeof ecrImageActionSchema>;

export type ParsedEvent =
  | {
      kind: 'push';
      eventId: string;
      repository: string;
      tag: string;
      digest: string;
      region: string;
      account: string;
      time: string;
    }
  | { kind: 'ignored'; reason: string };

/**
 * Reads an event as the EventBridge rule delivers it. Anything but a successful, tagged ECR push is
 * an "ignored" outcome with the reason, not a failure. The event is never logged whole.
 */
export function parseEvent(event: unknown): ParsedEvent {
  const e = event as { source?: unknown; 'detail-type'?: unknown } | null;
  const parsed = ecrImageActionSchema.safeParse(event);
  if (!parsed.success) {
    return {
      kind: 'ignored',
      reason: `not an ECR Image Action event (source ${String(e?.source)}, detail-type ${String(e?.['detail-type'])})`,
    };
  }
  const d = parsed.data.detail;
  if (d['action-type'] !== 'PUSH')
    return {
      kind: 'ignored',
      reason: `ECR ${d['action-type']} of ${d['repository-name']}@${d['image-digest']}: only pushes deploy`,
    };
  if (d.result !== 'SUCCESS')
    return {
      kind: 'ignored',
      reason: `ECR push to ${d['repository-name']} did not succeed (result ${d.result})`,
    };
  if (!d['image-tag'])
    return { kind: 'ignored', reason: `push of ${d['repository-name']}@${d['image-digest']} without a tag` };
  return {
    kind: 'push',
    eventId: parsed.data.id,
    repository: d['repository-name'],
    tag: d['image-tag'],
    digest: d['image-digest'],
    region: parsed.data.region,
    account: parsed.data.account,
    time: parsed.data.time,
  };
}
