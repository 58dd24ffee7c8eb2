/**
 * What the `deployer` CLI prints, as pure functions of the API's answers (functions/lib/deploy/view.ts):
 * the live tree of one deployment, the change lines between two polls of it, and the tables of
 * `list` and `history`. Nothing here reads a clock, a terminal or the network: the caller passes
 * `now` and the clock format, so the tests build views by hand and compare text.
 */
import type {
  ActionEntry,
  ActionResult,
  AnalysisRoundView,
  ClusterView,
  DeploymentSummary,
  DeploymentView,
  StartedResult,
  WaveView,
} from '../functions/lib/deploy/view.js';
import { FINAL_STATUSES } from '../functions/lib/deploy/view.js';

export interface RenderOptions {
  /** The time the view was read (for the elapsed time of a deployment still running). */
  now: Date;
  /** How a time of day is printed (default: local HH:MM:SS). */
  clock?: (at: Date) => string;
}

/** Local time of day, HH:MM:SS. */
export const localClock = (at: Date): string =>
  [at.getHours(), at.getMinutes(), at.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');

/** UTC time of day, HH:MM:SS (tests, logs read elsewhere). */
export const utcClock = (at: Date): string => at.toISOString().slice(11, 19);

/** `sha256:0123456789abcdef…` → `0123456789ab` (Docker's short form); null → `-`. */
export function shortDigest(digest: string | null | undefined): string {
  if (!digest) return '-';
  return digest.replace(/^sha256:/, '').slice(0, 12);
}

/** 45s, 2m05s, 1h02m, 3d04h. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, '0')}h`;
}

/** An ISO timestamp without its milliseconds: 2026-01-02T12:00:00Z (audit output: UTC, sortable). */
export function isoSeconds(at: string | undefined): string {
  if (!at) return '-';
  const d = new Date(at);
  return Number.isNaN(d.getTime()) ? at : d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The part of an IAM ARN a person reads: `user/alice`, `assumed-role/Approver/alice`. */
export function who(arn: string | undefined): string {
  if (!arn) return '-';
  const parts = arn.split(':');
  return parts.length >= 6 && parts[0] === 'arn' ? parts.slice(5).join(':') : arn;
}

/** How long a deployment has run (or ran, when finished). */
export function elapsedMs(view: Pick<DeploymentSummary, 'startedAt' | 'finishedAt'>, now: Date): number {
  const start = Date.parse(view.startedAt);
  const end = view.finishedAt ? Date.parse(view.finishedAt) : now.getTime();
  return Number.isNaN(start) || Number.isNaN(end) ? 0 : end - start;
}

export function isFinal(status: DeploymentSummary['status']): boolean {
  return FINAL_STATUSES.includes(status);
}

/** `2/3`, `1/3 (updating)`; empty without progress. */
export function formatProgress(c: Pick<ClusterView, 'progress'>): string {
  if (!c.progress) return '';
  const { runningOnTarget, desired, updateState } = c.progress;
  const state = updateState && updateState !== 'completed' ? ` (${updateState})` : '';
  return `${runningOnTarget}/${desired}${state}`;
}

/** `111111111111 → 222222222222` when changed, `111111111111` when not, empty when neither is known. */
export function formatDigests(c: { before: string | null; after: string | null }): string {
  if (c.after) return `${shortDigest(c.before)} → ${shortDigest(c.after)}`;
  return c.before ? shortDigest(c.before) : '';
}

/**
 * The sentence that decided a round: for a round that did not pass, the first measurement with the
 * round's verdict; otherwise the round's summary (or its first measurement's sentence).
 */
export function decisiveSentence(round: AnalysisRoundView): string {
  if (round.phase === 'Failed' || round.phase === 'Error' || round.phase === 'Inconclusive') {
    const decisive = round.measurements.find((m) => m.phase === round.phase);
    if (decisive) return decisive.sentence;
  }
  return round.summary || round.measurements[0]?.sentence || '';
}

const join = (...parts: Array<string | undefined | null | false>): string =>
  parts.filter((p): p is string => typeof p === 'string' && p !== '').join('  ');

function clusterLine(c: ClusterView): string {
  return join(c.cluster, c.step, formatProgress(c), formatDigests(c), c.message ? `— ${c.message}` : '');
}

function waveLine(w: WaveView): string {
  return join(
    `wave ${w.name}${w.bakeSeconds > 0 ? ` (bake ${formatDuration(w.bakeSeconds * 1000)})` : ''}`,
    w.state,
  );
}

function actionLine(a: ActionEntry, clock: (d: Date) => string): string {
  return join(clock(new Date(a.at)), a.action, `by ${who(a.by)}`, a.reason ? `"${a.reason}"` : '');
}

/** Every cluster of the deployment once, in wave order. */
export function clustersOf(view: Pick<DeploymentView, 'waves'>): ClusterView[] {
  const seen = new Map<string, ClusterView>();
  for (const w of view.waves) for (const c of w.clusters) if (!seen.has(c.cluster)) seen.set(c.cluster, c);
  return [...seen.values()];
}

/** The one line that sums a deployment up: service, image, digest, status, elapsed. */
export function headerLine(view: DeploymentSummary, now: Date): string {
  return join(
    view.service,
    `${view.repository}:${view.tag}`,
    shortDigest(view.digest),
    view.status,
    formatDuration(elapsedMs(view, now)),
  );
}

interface Node {
  text: string;
  children?: Node[];
}

function drawTree(nodes: Node[], indent = ''): string[] {
  const lines: string[] = [];
  nodes.forEach((node, i) => {
    const last = i === nodes.length - 1;
    lines.push(`${indent}${last ? '└─ ' : '├─ '}${node.text}`);
    if (node.children?.length) lines.push(...drawTree(node.children, `${indent}${last ? '   ' : '│  '}`));
  });
  return lines;
}

/**
 * The live tree of one deployment (what `status` prints and `watch` redraws): a header, then the
 * canary, the analysis rounds, each wave with its clusters, and the operators' actions.
 */
export function renderTree(view: DeploymentView, options: RenderOptions): string[] {
  const clock = options.clock ?? localClock;
  const lines = [headerLine(view, options.now)];
  const detail = [
    `id ${view.id}`,
    view.trigger === 'push' ? 'push' : `${view.trigger} of ${view.of ?? '?'}`,
    `policy ${view.policy}`,
    `started ${clock(new Date(view.startedAt))}`,
    view.finishedAt ? `finished ${clock(new Date(view.finishedAt))}` : undefined,
    view.requestedBy ? `by ${who(view.requestedBy)}` : undefined,
  ];
  lines.push(`│ ${detail.filter(Boolean).join(' · ')}`);
  if (view.approvalDeadline && view.status === 'awaiting-approval')
    lines.push(
      `│ awaiting approval until ${clock(new Date(view.approvalDeadline))}: deployer approve ${view.id}`,
    );
  if (view.approver) lines.push(`│ approved by ${who(view.approver)}`);
  if (view.reason) lines.push(`│ reason: ${view.reason}`);

  const nodes: Node[] = [];
  if (view.canary) {
    const c = clustersOf(view).find((x) => x.cluster === view.canary?.cluster);
    nodes.push({
      text: join(
        `canary ${view.canary.cluster} (${view.canary.percent}%)`,
        c?.step,
        c ? formatProgress(c) : '',
        c?.message ? `— ${c.message}` : '',
      ),
    });
  }
  const analysis = view.analysis;
  nodes.push({
    text: join('analysis', analysis.phase, analysis.decidedBy ? `decided by ${who(analysis.decidedBy)}` : ''),
    children: analysis.rounds.map((r) => ({ text: join(`round ${r.round}`, r.phase, decisiveSentence(r)) })),
  });
  for (const w of view.waves)
    nodes.push({ text: waveLine(w), children: w.clusters.map((c) => ({ text: clusterLine(c) })) });
  if (view.actions.length > 0)
    nodes.push({ text: 'actions', children: view.actions.map((a) => ({ text: actionLine(a, clock) })) });
  lines.push(...drawTree(nodes));
  return lines;
}

/**
 * What changed between two polls of one deployment, one line each, stamped with `now`'s time
 * (`12:00:01 c2 promoting 1/3`): what `watch` prints when its output is not a terminal. Without a
 * previous view, the lines describe the deployment as first seen. Final status comes last.
 */
export function diffViews(
  prev: DeploymentView | undefined,
  next: DeploymentView,
  options: RenderOptions,
): string[] {
  const clock = options.clock ?? localClock;
  const out: string[] = [];
  if (!prev) {
    out.push(
      `${view0(next).join(' ')} (deployment ${next.id}, ${next.trigger === 'push' ? 'push' : `${next.trigger} of ${next.of ?? '?'}`})`,
    );
    if (next.canary) out.push(`canary ${next.canary.cluster} ${next.canary.percent}%`);
  }

  // Analysis: its phase, then each round new or changed.
  if (!prev || prev.analysis.phase !== next.analysis.phase) {
    if (prev || next.analysis.phase !== 'Pending')
      out.push(
        `analysis ${next.analysis.phase}${next.analysis.decidedBy ? ` (decided by ${who(next.analysis.decidedBy)})` : ''}`,
      );
  }
  const oldRounds = new Map((prev?.analysis.rounds ?? []).map((r) => [r.round, r]));
  for (const r of next.analysis.rounds) {
    const old = oldRounds.get(r.round);
    if (old && old.phase === r.phase && decisiveSentence(old) === decisiveSentence(r)) continue;
    const sentence = decisiveSentence(r);
    out.push(`analysis round ${r.round} ${r.phase}${sentence ? `: ${sentence}` : ''}`);
  }

  // Clusters: step, progress, digest or message changed.
  const oldClusters = new Map(prev ? clustersOf(prev).map((c) => [c.cluster, c]) : []);
  for (const c of clustersOf(next)) {
    const old = oldClusters.get(c.cluster);
    if (!old && c.step === 'pending' && !c.progress) continue;
    if (
      old &&
      old.step === c.step &&
      formatProgress(old) === formatProgress(c) &&
      old.after === c.after &&
      old.message === c.message
    )
      continue;
    const terminal = ['promoted', 'failed', 'restored', 'restore-failed'].includes(c.step);
    const digests = c.after && (terminal || old?.after !== c.after) ? formatDigests(c) : '';
    const message = c.message && c.message !== old?.message ? `— ${c.message}` : '';
    out.push([c.cluster, c.step, formatProgress(c), digests, message].filter(Boolean).join(' '));
  }

  // Waves: state changed.
  const oldWaves = new Map((prev?.waves ?? []).map((w) => [w.name, w]));
  for (const w of next.waves) {
    const old = oldWaves.get(w.name);
    if (old ? old.state === w.state : w.state === 'pending') continue;
    out.push(
      `wave ${w.name} ${w.state}${w.state === 'baking' && w.bakeSeconds > 0 ? ` ${formatDuration(w.bakeSeconds * 1000)}` : ''}`,
    );
  }

  // Actions: appended, never rewritten.
  for (const a of next.actions.slice(prev?.actions.length ?? 0))
    out.push(`${a.action} by ${who(a.by)}${a.reason ? `: "${a.reason}"` : ''}`);

  if (
    next.approvalDeadline &&
    next.status === 'awaiting-approval' &&
    prev?.approvalDeadline !== next.approvalDeadline
  )
    out.push(
      `awaiting approval until ${clock(new Date(next.approvalDeadline))}: deployer approve ${next.id}`,
    );

  if (prev && prev.status !== next.status) {
    const final = isFinal(next.status);
    out.push(
      `status ${prev.status} → ${next.status}${final ? ` after ${formatDuration(elapsedMs(next, options.now))}` : ''}`,
    );
  }
  if (next.reason && next.reason !== prev?.reason) out.push(`reason: ${next.reason}`);

  const stamp = clock(options.now);
  return out.map((line) => `${stamp} ${line}`);
}

function view0(v: DeploymentView): string[] {
  return [v.service, `${v.repository}:${v.tag}`, shortDigest(v.digest), v.status];
}

/** Columns padded to their widest cell, two spaces apart, no trailing blanks. */
export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/** `list`: one row per deployment. */
export function listTable(items: DeploymentSummary[], now: Date): string[] {
  if (items.length === 0) return ['no deployments'];
  return table(
    ['ID', 'SERVICE', 'TAG', 'DIGEST', 'STATUS', 'TRIGGER', 'STARTED', 'DURATION'],
    items.map((d) => [
      d.id,
      d.service,
      d.tag,
      shortDigest(d.digest),
      d.status,
      d.trigger,
      isoSeconds(d.startedAt),
      formatDuration(elapsedMs(d, now)),
    ]),
  );
}

/**
 * `history`: the audit trail of a service, one row per deployment (when, what, outcome, who asked
 * and who approved) followed by its clusters' digests before → after, its actions and its reason.
 */
export function historyTable(items: DeploymentSummary[]): string[] {
  if (items.length === 0) return ['no deployments'];
  const head = table(
    ['STARTED', 'FINISHED', 'ID', 'TRIGGER', 'TAG', 'DIGEST', 'STATUS', 'REQUESTED BY', 'APPROVER'],
    items.map((d) => [
      isoSeconds(d.startedAt),
      isoSeconds(d.finishedAt),
      d.id,
      d.trigger === 'push' ? 'push' : `${d.trigger} of ${d.of ?? '?'}`,
      d.tag,
      shortDigest(d.digest),
      d.status,
      d.requestedBy ?? '-',
      d.approver ?? '-',
    ]),
  );
  const out = [head[0] as string];
  items.forEach((d, i) => {
    out.push(head[i + 1] as string);
    for (const c of d.clusters)
      out.push(`    ${c.cluster}  ${formatDigests(c) || '-'}${c.after ? '' : ' (unchanged)'}`);
    for (const a of d.actions)
      out.push(`    ${isoSeconds(a.at)}  ${a.action} by ${a.by}${a.reason ? `: "${a.reason}"` : ''}`);
    if (d.reason) out.push(`    reason: ${d.reason}`);
  });
  return out;
}

/** The answer to an action on a deployment. */
export function actionResultLine(r: ActionResult): string {
  return `${r.action} ${r.deploymentId}: ${r.outcome} (by ${r.by})`;
}

const STARTED_AS: Record<StartedResult['trigger'], string> = {
  undo: 'undoing',
  retry: 'retrying',
  apply: 'applying the policy to the digest of',
};

/** The answer to undo, retry or apply: the new deployment. */
export function startedResultLines(r: StartedResult): string[] {
  return [
    `${r.trigger} of ${r.service} started: deployment ${r.deploymentId} deploys ${shortDigest(r.digest)} (${STARTED_AS[r.trigger]} ${r.of})`,
    `follow it: deployer watch ${r.deploymentId}`,
  ];
}
