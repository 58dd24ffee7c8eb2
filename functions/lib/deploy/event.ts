import * as z from '../zod.js';

/** The EventBridge event ECR emits for an image push or delete ("ECR Image Action"). */
export const ecrImageActionSchema = z.object({
  version: z.string(),
  id: z.string().check(z.minLength(1, 'empty')),
  'detail-type': z.literal('ECR Image Action'),
  source: z.literal('aws.ecr'),
  /** The account of the registry the image was pushed to. */
  account: z.string().check(z.regex(/^\d{12}$/, 'not a 12-digit account id')),
  time: z.string(),
  /** The region of the registry the image was pushed to. */
  region: z.string().check(z.regex(/^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$/, 'not an AWS region name')),
  detail: z.object({
    result: z.string().check(z.minLength(1, 'empty'), z.maxLength(64, 'longer than 64 characters')),
    'repository-name': z
      .string()
      .check(z.minLength(1, 'empty'), z.maxLength(256, 'longer than 256 characters')),
    'image-digest': z.string().check(z.regex(/^sha256:[a-f0-9]{64}$/, 'not a sha256 digest')),
    'action-type': z.string().check(z.minLength(1, 'empty'), z.maxLength(64, 'longer than 64 characters')),
    'image-tag': z.optional(z.string().check(z.maxLength(300, 'longer than 300 characters'))),
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
      /** The region of the registry the image was pushed to. */
      region: string;
      /** The account of the registry the image was pushed to. */
      account: string;
      time: string;
    }
  /** Not a deployment: another kind of event, a delete, a push without a tag. */
  | { kind: 'ignored'; reason: string }
  /** A push that ECR reports as not successful (result other than SUCCESS). */
  | { kind: 'push-failed'; reason: string; repository: string; tag?: string; result: string }
  /** An ECR Image Action event that does not have ECR's shape: one "field: problem" per entry. */
  | { kind: 'invalid'; problems: string[] };

/** True when the event says it is an ECR Image Action (source and detail-type), whatever else it holds. */
function claimsEcrImageAction(event: unknown): boolean {
  const e = event as { source?: unknown; 'detail-type'?: unknown } | null;
  return e?.source === 'aws.ecr' && e?.['detail-type'] === 'ECR Image Action';
}

/** The value at `path` in `value`, or undefined when any step is missing. */
function at(value: unknown, path: readonly PropertyKey[]): unknown {
  let v = value;
  for (const key of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

/** What is wrong with each field, as "detail.image-digest: not a sha256 digest"; values are never echoed. */
function problemsOf(event: unknown, issues: readonly z.core.$ZodIssue[]): string[] {
  const problems = issues.map((issue) => {
    const field = issue.path.map(String).join('.') || '(event)';
    const value = at(event, issue.path);
    let problem: string;
    if (value === undefined) problem = 'missing';
    else if (issue.code === 'invalid_type')
      problem = `expected ${issue.expected}, got ${value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value}`;
    else problem = issue.message;
    return `${field}: ${problem}`;
  });
  return [...new Set(problems)];
}

/**
 * Reads an event as the EventBridge rule delivers it. An event that is not an ECR Image Action, a
 * delete and an untagged push are "ignored" with the reason; a push ECR reports as failed is
 * "push-failed"; an ECR Image Action that does not have ECR's shape is "invalid" with each field's
 * problem. The event is never logged or echoed whole.
 */
export function parseEvent(event: unknown): ParsedEvent {
  const parsed = ecrImageActionSchema.safeParse(event);
  if (!parsed.success) {
    if (claimsEcrImageAction(event))
      return { kind: 'invalid', problems: problemsOf(event, parsed.error.issues) };
    const e = event as { source?: unknown; 'detail-type'?: unknown } | null;
    const str = (v: unknown) =>
      typeof v === 'string' ? v.slice(0, 128) : v === undefined ? 'undefined' : typeof v;
    return {
      kind: 'ignored',
      reason: `not an ECR Image Action event (source ${str(e?.source)}, detail-type ${str(e?.['detail-type'])})`,
    };
  }
  const d = parsed.data.detail;
  const repository = d['repository-name'];
  const tag = d['image-tag'] || undefined;
  if (d['action-type'] !== 'PUSH')
    return {
      kind: 'ignored',
      reason: `ECR ${d['action-type']} of ${repository}@${d['image-digest']}: only pushes deploy`,
    };
  if (d.result !== 'SUCCESS')
    return {
      kind: 'push-failed',
      reason: `ECR push of ${repository}${tag ? `:${tag}` : ' (untagged)'} did not succeed (result ${d.result})`,
      repository,
      ...(tag ? { tag } : {}),
      result: d.result,
    };
  if (!tag) return { kind: 'ignored', reason: `push of ${repository}@${d['image-digest']} without a tag` };
  return {
    kind: 'push',
    eventId: parsed.data.id,
    repository,
    tag,
    digest: d['image-digest'],
    region: parsed.data.region,
    account: parsed.data.account,
    time: parsed.data.time,
  };
}
