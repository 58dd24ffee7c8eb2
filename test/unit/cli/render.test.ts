import { describe, expect, it } from 'vitest';
import {
  decisiveSentence,
  diffViews,
  formatDuration,
  historyTable,
  listTable,
  renderTree,
  shortDigest,
  utcClock,
  who,
} from '../../../cli/render.js';
import { Frame } from '../../../cli/watch.js';
import { ALICE, at, NEW, promotingView, rolledBackView, succeededView, summary, view } from './fixtures.js';

const now = new Date('2026-03-01T12:01:00Z');
const options = { now, clock: utcClock };

describe('small formats', () => {
  it('shortens digests, durations and ARNs', () => {
    expect(shortDigest(NEW)).toBe('aaaaaaaaaaaa');
    expect(shortDigest(null)).toBe('-');
    expect(formatDuration(45_000)).toBe('45s');
    expect(formatDuration(125_000)).toBe('2m05s');
    expect(formatDuration(3_720_000)).toBe('1h02m');
    expect(formatDuration(-5)).toBe('0s');
    expect(who(ALICE)).toBe('user/alice');
    expect(who('arn:aws:sts::111122223333:assumed-role/Approver/bob')).toBe('assumed-role/Approver/bob');
    expect(who('someone')).toBe('someone');
  });

  it("a round's decisive sentence is the failing measurement's, else the summary", () => {
    const [ok, failed] = rolledBackView().analysis.rounds;
    expect(decisiveSentence(failed as never)).toBe(
      'success-rate = 0.70 did not meet condition result >= 0.95',
    );
    expect(decisiveSentence(ok as never)).toBe('all measurements successful');
  });
});

describe('renderTree', () => {
  it('draws a deployment being promoted: canary, analysis rounds, waves with clusters, actions', () => {
    expect(renderTree(promotingView(), options)).toEqual([
      'web  demo:v2  aaaaaaaaaaaa  running  1m00s',
      '│ id web-v2-aaaaaaaaaaaa · push · policy web · started 12:00:00',
      '├─ canary c1 (34%)  promoted  3/3',
      '├─ analysis  Successful',
      '│  └─ round 1  Successful  success-rate = 0.99 met condition result >= 0.95',
      '├─ wave first (bake 5s)  done',
      '│  └─ c1  promoted  3/3  111111111111 → aaaaaaaaaaaa',
      '├─ wave rest  promoting',
      '│  ├─ c2  promoting  1/3 (updating)  111111111111 → aaaaaaaaaaaa',
      '│  └─ c3  pending  111111111111',
      '└─ actions',
      '   └─ 12:00:40  promote  by user/alice  "skip the rest"',
    ]);
  });

  it('shows why a deployment was rolled back and the round that decided it', () => {
    const lines = renderTree(rolledBackView(), options);
    expect(lines[0]).toBe('web  demo:v2  aaaaaaaaaaaa  rolled-back  1m30s');
    expect(lines).toContain(
      '│ reason: analysis failed: success-rate = 0.70 did not meet condition result >= 0.95',
    );
    expect(lines).toContain(
      '│  └─ round 2  Failed  success-rate = 0.70 did not meet condition result >= 0.95',
    );
    expect(lines).toContain('│  └─ c1  restored  3/3  111111111111');
  });

  it('says until when a canary awaits approval and the command that approves it', () => {
    const lines = renderTree(
      view({ status: 'awaiting-approval', approvalDeadline: at(3600), trigger: 'undo', of: 'web-v1-x' }),
      options,
    );
    expect(lines[1]).toBe('│ id web-v2-aaaaaaaaaaaa · undo of web-v1-x · policy web · started 12:00:00');
    expect(lines[2]).toBe('│ awaiting approval until 13:00:00: deployer approve web-v2-aaaaaaaaaaaa');
  });

  it('a finished deployment shows its duration, not the time since it started', () => {
    expect(renderTree(succeededView(), { now: new Date('2026-03-02T00:00:00Z'), clock: utcClock })[0]).toBe(
      'web  demo:v2  aaaaaaaaaaaa  succeeded  2m05s',
    );
  });
});

describe('diffViews (watch without a terminal)', () => {
  it('describes the deployment as first seen', () => {
    expect(diffViews(undefined, view(), options)).toEqual([
      '12:01:00 web demo:v2 aaaaaaaaaaaa running (deployment web-v2-aaaaaaaaaaaa, push)',
      '12:01:00 canary c1 34%',
      '12:01:00 c1 canary-deploying',
    ]);
  });

  it('prints one line per change: rounds, clusters, waves, actions', () => {
    expect(diffViews(view(), promotingView(), options)).toEqual([
      '12:01:00 analysis Successful',
      '12:01:00 analysis round 1 Successful: success-rate = 0.99 met condition result >= 0.95',
      '12:01:00 c1 promoted 3/3 111111111111 → aaaaaaaaaaaa',
      '12:01:00 c2 promoting 1/3 (updating) 111111111111 → aaaaaaaaaaaa',
      '12:01:00 wave first done',
      '12:01:00 wave rest promoting',
      '12:01:00 promote by user/alice: "skip the rest"',
    ]);
  });

  it('progress alone is a change; the final status comes last', () => {
    const before = promotingView();
    const progressed = promotingView();
    const c2 = progressed.waves[1]?.clusters[0];
    if (c2) c2.progress = { desired: 3, runningOnTarget: 2, updateState: 'updating' };
    expect(diffViews(before, progressed, options)).toEqual(['12:01:00 c2 promoting 2/3 (updating)']);
    expect(diffViews(progressed, succeededView(), options)).toEqual([
      '12:01:00 c2 promoted 3/3 111111111111 → aaaaaaaaaaaa',
      '12:01:00 c3 promoted 3/3 111111111111 → aaaaaaaaaaaa',
      '12:01:00 wave rest done',
      '12:01:00 status running → succeeded after 2m05s',
    ]);
  });

  it('a rollback: the failed round, the restored cluster, the status and the reason', () => {
    expect(diffViews(view(), rolledBackView(), options)).toEqual([
      '12:01:00 analysis Failed',
      '12:01:00 analysis round 1 Successful: all measurements successful',
      '12:01:00 analysis round 2 Failed: success-rate = 0.70 did not meet condition result >= 0.95',
      '12:01:00 c1 restored 3/3',
      '12:01:00 wave first failed',
      '12:01:00 status running → rolled-back after 1m30s',
      '12:01:00 reason: analysis failed: success-rate = 0.70 did not meet condition result >= 0.95',
    ]);
  });

  it('nothing changed: no line', () => {
    expect(diffViews(promotingView(), promotingView(), options)).toEqual([]);
  });

  it('an approval wait names its deadline once', () => {
    const waiting = view({ status: 'awaiting-approval', approvalDeadline: at(600) });
    expect(diffViews(view(), waiting, options)).toEqual([
      '12:01:00 awaiting approval until 12:10:00: deployer approve web-v2-aaaaaaaaaaaa',
      '12:01:00 status running → awaiting-approval',
    ]);
    expect(diffViews(waiting, waiting, options)).toEqual([]);
  });
});

describe('tables', () => {
  it('list: one row per deployment', () => {
    expect(
      listTable(
        [summary(), summary({ id: 'web-v3', tag: 'v3', status: 'running', finishedAt: undefined })],
        now,
      ),
    ).toEqual([
      'ID                   SERVICE  TAG  DIGEST        STATUS     TRIGGER  STARTED               DURATION',
      'web-v2-aaaaaaaaaaaa  web      v2   aaaaaaaaaaaa  succeeded  push     2026-03-01T12:00:00Z  2m05s',
      'web-v3               web      v3   aaaaaaaaaaaa  running    push     2026-03-01T12:00:00Z  1m00s',
    ]);
    expect(listTable([], now)).toEqual(['no deployments']);
  });

  it('history: each deployment, its digests before → after per cluster, its actions and reason', () => {
    const lines = historyTable([
      summary({
        id: 'web-undo-1',
        trigger: 'undo',
        of: 'web-v2-aaaaaaaaaaaa',
        requestedBy: ALICE,
        reason: 'all clusters converged',
        actions: [{ action: 'undo', by: ALICE, at: at(200), reason: 'v2 is slow' }],
        clusters: [
          { cluster: 'c1', before: NEW, after: `sha256:${'1'.repeat(64)}` },
          { cluster: 'c2', before: NEW, after: null },
        ],
      }),
    ]);
    expect(lines[0]).toMatch(
      /^STARTED\s+FINISHED\s+ID\s+TRIGGER\s+TAG\s+DIGEST\s+STATUS\s+REQUESTED BY\s+APPROVER$/,
    );
    expect(lines[1]).toContain('undo of web-v2-aaaaaaaaaaaa');
    expect(lines[1]).toContain(ALICE);
    expect(lines.slice(2)).toEqual([
      '    c1  aaaaaaaaaaaa → 111111111111',
      '    c2  aaaaaaaaaaaa (unchanged)',
      `    2026-03-01T12:03:20Z  undo by ${ALICE}: "v2 is slow"`,
      '    reason: all clusters converged',
    ]);
  });
});

describe('Frame (redraw in place)', () => {
  it('moves the cursor up over the previous frame, erases it, and cuts lines to the width', () => {
    const writes: string[] = [];
    const frame = new Frame({ write: (s: string) => writes.push(s), isTTY: true, columns: 30 });
    frame.draw(['one', 'two']);
    frame.draw(['three', 'x'.repeat(40)]);
    expect(writes[0]).toBe('\u001b[0Jone\ntwo\n');
    expect(writes[1]).toBe(`\u001b[2A\r\u001b[0Jthree\n${'x'.repeat(28)}…\n`);
  });

  it('a frame taller than the terminal is cut to fit, saying how much is left out', () => {
    const writes: string[] = [];
    const frame = new Frame({ write: (s: string) => writes.push(s), isTTY: true, columns: 80, rows: 5 });
    frame.draw(['1', '2', '3', '4', '5', '6']);
    frame.draw(['a']);
    expect(writes[0]).toBe('\u001b[0J1\n2\n3\n… 3 more lines (deployer status for all)\n');
    expect(writes[1]).toBe('\u001b[4A\r\u001b[0Ja\n');
  });
});
