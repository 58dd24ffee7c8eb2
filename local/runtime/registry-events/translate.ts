import { createHash } from 'node:crypto';
import { type EventBridgeEvent, eventTime } from '../eventbridge/bus.js';

/**
 * The distribution registry's notification envelope (media type
 * application/vnd.docker.distribution.events.v1+json; distribution v3 says v2+json for the same
 * shape), as notifications/event.go defines it. The fixture
 * test/unit/runtime/fixtures/registry-envelopes.recorded.json was recorded from Debian's
 * docker-registry 2.8.2.
 */
export interface RegistryEnvelope {
  events: RegistryEvent[];
}

export interface RegistryEvent {
  id: string;
  timestamp: string;
  action: 'push' | 'pull' | 'mount' | 'delete' | string;
  target: {
    mediaType?: string;
    size?: number;
    digest?: string;
    length?: number;
    repository?: string;
    fromRepository?: string;
    url?: string;
    tag?: string;
  };
  request?: { id?: string; addr?: string; host?: string; method?: string; useragent?: string };
  actor?: { name?: string };
  source?: { addr?: string; instanceID?: string };
}

/** `detail` of an "ECR Image Action" event (ECR user guide, "Amazon ECR events and EventBridge"). */
export interface EcrImageActionDetail {
  result: 'SUCCESS';
  'repository-name': string;
  'image-digest': string;
  'action-type': 'PUSH' | 'DELETE';
  'image-tag'?: string;
}

export type EcrImageActionEvent = EventBridgeEvent<EcrImageActionDetail> & {
  'detail-type': 'ECR Image Action';
  source: 'aws.ecr';
};

/** Manifest media types: a push of one of these is an image push; anything else is a blob. */
export const MANIFEST_MEDIA_TYPES: ReadonlySet<string> = new Set([
  'application/vnd.docker.distribution.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
]);

/** Whether a registry event is about a manifest (an image) rather than a blob (a layer or config). */
export function isManifestEvent(event: RegistryEvent): boolean {
  const { mediaType, url } = event.target ?? {};
  if (mediaType && MANIFEST_MEDIA_TYPES.has(mediaType)) return true;
  return typeof url === 'string' && /\/v2\/.+\/manifests\//.test(url);
}

/**
 * The ECR "ECR Image Action" events a registry envelope stands for, in envelope order:
 * - a manifest push → PUSH, with `image-tag` when it was pushed by tag; a push by digest carries
 *   no `image-tag`, as on ECR;
 * - a delete that names a digest → DELETE without a tag (the registry's tag-only and repository
 *   deletes carry no digest and are left out: every ECR image event names its digest);
 * - blob pushes, mounts and pulls → nothing.
 * Duplicates (the registry re-sends an envelope until it is answered) are passed on, each with the
 * same event id: deduplication belongs to the workflow. `id` is derived from the registry's event
 * id, `time` from its timestamp, to the second like EventBridge's.
 */
export function toEcrImageActionEvents(
  envelope: unknown,
  options: { region?: string; accountId?: string } = {},
): EcrImageActionEvent[] {
  const events = (envelope as Partial<RegistryEnvelope> | null)?.events;
  if (!Array.isArray(events)) return [];
  const out: EcrImageActionEvent[] = [];
  for (const event of events as RegistryEvent[]) {
    const target = event?.target;
    if (!target?.repository || !target.digest) continue;
    let actionType: 'PUSH' | 'DELETE';
    if (event.action === 'push' && isManifestEvent(event)) actionType = 'PUSH';
    else if (event.action === 'delete') actionType = 'DELETE';
    else continue;
    const detail: EcrImageActionDetail = {
      result: 'SUCCESS',
      'repository-name': target.repository,
      'image-digest': target.digest,
      'action-type': actionType,
    };
    if (actionType === 'PUSH' && target.tag) detail['image-tag'] = target.tag;
    const when = new Date(event.timestamp);
    out.push({
      version: '0',
      id: eventId(event.id ?? `${target.repository}@${target.digest}:${event.timestamp}`),
      'detail-type': 'ECR Image Action',
      source: 'aws.ecr',
      account: options.accountId ?? '000000000000',
      time: eventTime(Number.isNaN(when.getTime()) ? new Date() : when),
      region: options.region ?? 'us-east-1',
      resources: [],
      detail,
    });
  }
  return out;
}

/** A UUID-shaped id derived from the registry's event id. */
function eventId(registryEventId: string): string {
  const h = createHash('sha256').update(`registry-event:${registryEventId}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}
