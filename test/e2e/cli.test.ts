import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeploymentSummary, DeploymentView } from '../../functions/lib/deploy/view.js';
import type { PushedImage } from '../../local/fleet/demo-image.js';
import type { LocalRuntime } from '../../local/runtime/runtime.js';
import {
  baseline,
  clusterConfigs,
  clusterImages,
  deploymentIdOf,
  policy,
  release,
  SERVICE,
  startRuntime,
} from './support.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The package's `deployer` bin, run as a person runs it: a process of its own. */
const BIN = join(ROOT, 'cli/bin.mjs');
const OPERATOR = 'cli-operator';
const OPERATOR_ARN = `arn:aws:iam::000000000000:user/${OPERATOR}`;
/** How the CLI prints the operator (render.ts who()). */
const OPERATOR_SHORT = `user/${OPERATOR}`;
const TMUX_SESSION = 'watch';
const ESC = '\u001b';
const execFileP = promisify(execFile);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const shortDigest = (digest: string) => digest.replace(/^sha256:/, '').slice(0, 12);
const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The manual policy of issue 12: a person approves or rejects each canary within 120 s. */
const manualPolicy = () =>
  policy({ promotion: { mode: 'manual', approvalTimeoutSeconds: 120, onTimeout: 'rollback' } });

/** The CLI of the package on the twin: `deployer …` commands, the watch terminal and the API state. */
describe('the deployer CLI on the twin', () => {
  let rt: LocalRuntime;
  let dir: string;
  let runtimeFile: string;
  let base: PushedImage;
  let good: PushedImage;
  let goodId: string;
  const children = new Set<ChildProcess>();

  /** The environment of the CLI's process: the runtime file this test wrote, no other target. */
  const cliEnv = (): NodeJS.ProcessEnv => {
    const env: NodeJS.ProcessEnv = { ...process.env, DEPLOYER_RUNTIME_FILE: runtimeFile, LANG: 'C.UTF-8' };
    delete env.DEPLOYER_TARGET;
    delete env.DEPLOYER_API_URL;
    delete env.NO_COLOR;
    return env;
  };

  /** Starts `node cli/bin.mjs <args>` with piped output; resolves with its exit code and output. */
  function start(args: string[], timeoutMs = 120_000): Promise<Run> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, ...args], {
        cwd: ROOT,
        env: cliEnv(),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.add(child);
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (s: string) => {
        stdout += s;
      });
      child.stderr.setEncoding('utf8').on('data', (s: string) => {
        stderr += s;
      });
      const timer = setTimeout(() => {
        child.kill('SIGTERM');
        reject(new Error(`deployer ${args.join(' ')} ran over ${timeoutMs} ms: ${stdout}\n${stderr}`));
      }, timeoutMs);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        children.delete(child);
        resolve({ code, stdout, stderr });
      });
    });
  }
  /** `deployer <args> --local`. */
  const deployer = (...args: string[]) => start([...args, '--local']);

  const tmux = (...args: string[]) =>
    // A tmux server of this file's own (its socket in the temp dir): no one else's sessions are touched.
    execFileP('tmux', ['-u', '-S', join(dir, 'tmux.sock'), ...args], { env: cliEnv(), cwd: ROOT });

  /** GET /deployments/{id} as the operator, straight to the API (the test's own view, not the CLI's). */
  async function view(id: string): Promise<{ status: number; body: DeploymentView }> {
    const res = await rt.callApi('GET', `/deployments/${id}`, rt.user(OPERATOR));
    return { status: res.status, body: res.body as unknown as DeploymentView };
  }
  /** Polls the deployment until `what` holds (a deployment still queued for its lock is a 404). */
  async function until(id: string, what: (v: DeploymentView) => boolean, timeoutMs = 180_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const res = await view(id);
      if (res.status === 200 && what(res.body)) return res.body;
      if (res.status !== 200 && res.status !== 404)
        throw new Error(`GET /deployments/${id}: ${res.status} ${JSON.stringify(res.body)}`);
      if (Date.now() > deadline)
        throw new Error(`deployment ${id} never got there: ${JSON.stringify(res.body).slice(0, 800)}`);
      await sleep(500);
    }
  }
  const ended = (v: DeploymentView) => ['succeeded', 'rolled-back', 'failed'].includes(v.status);

  beforeAll(async () => {
    await execFileP('tmux', ['-V']).catch(() => {
      throw new Error('tmux is not installed: apt-get install -y tmux (the watch test runs in it)');
    });
    rt = await startRuntime(manualPolicy());
    dir = await mkdtemp(join(tmpdir(), 'deployer-cli-'));
    runtimeFile = join(dir, 'runtime.json');
    const credentials = rt.user(OPERATOR);
    // What `npm run local -- up` writes (local/runtime/main.ts), for this twin and a release manager.
    await writeFile(
      runtimeFile,
      JSON.stringify({
        pid: process.pid,
        env: { AWS_REGION: rt.env.AWS_REGION },
        api: {
          url: rt.api.url,
          credentials: { accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey },
        },
      }),
      { mode: 0o600 },
    );
    base = await baseline(rt);
  });

  afterAll(async () => {
    // The watch's session and its server: nothing of this file is left running
    if (dir) await tmux('kill-server').catch(() => undefined);
    for (const child of children) child.kill('SIGTERM');
    await rt?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('validates configuration files with the handlers schemas, naming the field that is wrong', async () => {
    // Arrange
    const goodFile = join(dir, 'good.json');
    const badFile = join(dir, 'bad.json');
    await writeFile(goodFile, JSON.stringify({ clusters: clusterConfigs(rt.fleet), policies: [policy()] }));
    await writeFile(
      badFile,
      JSON.stringify({
        clusters: clusterConfigs(rt.fleet),
        policies: [{ ...policy(), canary: { cluster: 'c1', percent: 150 }, clusters: ['c1', 'c9'] }],
      }),
    );
    // Act
    const [valid, invalid] = await Promise.all([
      start(['config', 'validate', goodFile]),
      start(['config', 'validate', badFile]),
    ]);
    // Assert
    expect(valid, valid.stderr).toMatchObject({
      code: 0,
      stdout: `${goodFile}: valid (3 clusters, 1 policy)\n`,
    });
    expect(invalid.code, invalid.stdout).toBe(1);
    expect(invalid.stdout).toBe('');
    expect(invalid.stderr).toMatch(new RegExp(`^${badFile}: invalid configuration\n`));
    expect(invalid.stderr).toMatch(/^ {2}policies\.0 \(web\): field canary\.percent: /m);
    expect(invalid.stderr).toMatch(/^ {2}policies\.0 \(web\): field clusters\.1: no cluster "c9"/m);
  });

  it('follows a deployment live in a terminal (tmux) and as plain lines when piped, while pause, approve and resume steer it', async () => {
    // Arrange: a release; both watches follow it from its start
    good = await release(rt, { tag: 'v8.0.0' });
    goodId = await deploymentIdOf(rt, good.digest);
    await until(goodId, () => true);
    const prompt = `$ deployer watch ${goodId} --local --interval 1`;
    await tmux(
      'new-session',
      '-d',
      '-s',
      TMUX_SESSION,
      '-x',
      '120',
      '-y',
      '40',
      '-c',
      ROOT,
      // The command line above the watch, as a shell shows it: the frame starts on the second row
      // (a frame on the top row is copied to the scrollback by tmux's scroll-on-clear at each redraw).
      `echo ${quote(prompt)}; ${quote(process.execPath)} ${quote(BIN)} watch ${quote(goodId)} --local --interval 1; echo "watch exited $?"; sleep 900`,
    );
    const piped = deployer('watch', goodId, '--interval', '1');
    const screens: string[] = [];
    const capturing = (async () => {
      const deadline = Date.now() + 400_000;
      for (;;) {
        // The whole pane, its scrollback included: frames printed below each other would show here.
        const { stdout } = await tmux('capture-pane', '-p', '-S', '-', '-t', TMUX_SESSION);
        screens.push(stdout);
        if (/^watch exited \d+$/m.test(stdout) || Date.now() > deadline) return;
        await sleep(1000);
      }
    })();

    // Act: pause while the canary awaits approval, approve, resume once it holds before its first wave
    await until(goodId, (v) => v.status === 'awaiting-approval');
    const pause = await deployer('pause', goodId, '--reason', 'hold before the waves');
    const pauseAgain = await deployer('pause', goodId);
    const approve = await deployer('approve', goodId, '--reason', 'canary looks fine');
    await until(goodId, (v) => v.status === 'paused');
    await sleep(3000); // both watches poll every second: let them show the hold
    const resume = await deployer('resume', goodId);
    const watched = await piped;
    await capturing;

    // Assert: the actions, as the CLI prints the API's answers
    expect(pause, pause.stderr).toEqual({
      code: 0,
      stdout: `pause ${goodId}: paused: it holds before its next wave (a change in flight finishes) (by ${OPERATOR_ARN})\n`,
      stderr: '',
    });
    expect(pauseAgain).toMatchObject({
      code: 1,
      stdout: '',
      stderr: `deployer: 409 Conflict: deployment ${goodId} is awaiting-approval: it is paused already (deployment status: awaiting-approval)\n`,
    });
    expect(approve, approve.stderr).toMatchObject({
      code: 0,
      stdout: `approve ${goodId}: approved: the canary is promoted to the waves (by ${OPERATOR_ARN})\n`,
    });
    expect(resume, resume.stderr).toMatchObject({
      code: 0,
      stdout: `resume ${goodId}: resumed: the next wave starts now (by ${OPERATOR_ARN})\n`,
    });
    const done = await view(goodId);
    expect(done.body.status).toBe('succeeded');
    expect(Object.values(await clusterImages(rt))).toEqual(
      Array(3).fill({ image: good.digestReference, canary: false }),
    );

    // Assert: the terminal. The watch ended as the deployment did, and every capture holds one frame
    const last = screens.at(-1) ?? '';
    expect(last, last).toMatch(new RegExp(`^${goodId} succeeded after \\S+\\nwatch exited 0$`, 'm'));
    const header = new RegExp(
      `^${SERVICE} {2}demo:v8\\.0\\.0 {2}${shortDigest(good.digest)} {2}(\\S+) {2}\\S+$`,
      'gm',
    );
    // The screens once the watch has drawn (before, only the command line shows)
    const frames = screens.filter((s) => (s.match(header)?.length ?? 0) > 0);
    expect(frames.length).toBeGreaterThan(20);
    expect(screens.length - frames.length).toBeLessThan(5);
    for (const screen of screens) {
      // The pane never scrolled (its first line, scrollback included, is the command line) and
      // holds at most one frame: redrawn in place, not printed below the previous one.
      expect(screen.split('\n')[0], screen).toBe(prompt);
      expect(screen.match(header)?.length ?? 0, screen).toBeLessThanOrEqual(1);
    }
    // …and the frames changed: status, the analysis rounds, the waves and their clusters
    const statuses = frames.map((s) => [...s.matchAll(header)][0]?.[1]);
    expect(new Set(statuses)).toEqual(new Set(['running', 'awaiting-approval', 'paused', 'succeeded']));
    expect(statuses.at(-1)).toBe('succeeded');
    expect(
      frames.some(
        (s) => s.includes(`│ awaiting approval until `) && s.includes(`deployer approve ${goodId}`),
      ),
    ).toBe(true);
    const rounds = frames.map((s) =>
      Math.max(0, ...[...s.matchAll(/[├└]─ round (\d+) {2}/g)].map((m) => Number(m[1]))),
    );
    expect(rounds).toEqual([...rounds].sort((a, b) => a - b)); // never fewer rounds than before
    expect(new Set(rounds).size, rounds.join(' ')).toBeGreaterThanOrEqual(3);
    const stepOf = (cluster: string) => (s: string) => new RegExp(`[├└]─ ${cluster} {2}(\\S+)`).exec(s)?.[1];
    const waveOf = (wave: string) => (s: string) => new RegExp(`[├└]─ wave ${wave} {2}(\\S+)`).exec(s)?.[1];
    const c2 = frames.map(stepOf('c2'));
    expect(c2[0]).toBe('pending');
    expect(c2.at(-1)).toBe('promoted');
    const c1 = frames.map(stepOf('c1'));
    expect(c1).toContain('canary-running');
    expect(c1.at(-1)).toBe('promoted');
    const rest = frames.map(waveOf('rest'));
    expect(rest[0]).toBe('pending');
    expect(rest.at(-1)).toBe('done');
    expect(last).toMatch(/^│ approved by user\/cli-operator$/m);
    expect(last).toMatch(/[├└]─ c3 {2}promoted {2}3\/3 {2}[0-9a-f]{12} → [0-9a-f]{12}/);

    // Assert: piped, the same deployment is told in plain change lines, and the exit code says it succeeded
    expect(watched.code, watched.stderr).toBe(0);
    expect(watched.stdout).not.toContain(ESC);
    const lines = watched.stdout.trimEnd().split('\n');
    for (const line of lines) expect(line).toMatch(/^\d\d:\d\d:\d\d \S/);
    const told = lines.map((l) => l.slice(9));
    expect(told[0]).toMatch(
      new RegExp(
        `^${SERVICE} demo:v8\\.0\\.0 ${shortDigest(good.digest)} \\S+ \\(deployment ${goodId}, push\\)$`,
      ),
    );
    expect(told).toEqual(
      expect.arrayContaining([
        'status running → awaiting-approval',
        `pause by ${OPERATOR_SHORT}: "hold before the waves"`,
        `approve by ${OPERATOR_SHORT}: "canary looks fine"`,
        'status running → paused',
        `resume by ${OPERATOR_SHORT}`,
        'wave rest done',
        expect.stringMatching(/^analysis round 1 Running/),
        expect.stringMatching(/^analysis round \d+ Successful/),
        `c2 promoted 3/3 ${shortDigest(base.digest)} → ${shortDigest(good.digest)} — cluster c2: service web: 3/3 task(s) run ${good.digestReference}`,
        expect.stringMatching(/^status \S+ → succeeded after \S+$/),
      ]),
    );
    expect(told.slice(-2)).toEqual([
      expect.stringMatching(/^status \S+ → succeeded after \S+$/),
      'reason: runs on c1, c2, c3',
    ]);
  });

  it('lists, shows and refuses through the CLI: 404 for an unknown id, 409 with the status, 400 naming the field', async () => {
    // Arrange
    const short = shortDigest(good.digest);
    // Act
    const [list, listJson, status, statusJson] = await Promise.all([
      deployer('list'),
      deployer('list', '--json'),
      deployer('status', goodId),
      deployer('status', goodId, '--json'),
    ]);
    const [unknown, ended409, resumed409, badId, badReason, badNext, unknownService, retrySucceeded] =
      await Promise.all([
        deployer('status', 'web-v0-000000000000'),
        deployer('approve', goodId),
        deployer('resume', goodId),
        deployer('status', 'not an id'),
        deployer('abort', goodId, '--reason', 'x'.repeat(501)),
        deployer('list', '--next', 'bm90LWEtdG9rZW4'),
        deployer('undo', 'nosuch'),
        deployer('retry', SERVICE, '--deployment', goodId),
      ]);

    // Assert: list
    expect(list.code, list.stderr).toBe(0);
    const [head, ...rows] = list.stdout.trimEnd().split('\n');
    expect(head).toMatch(/^ID +SERVICE +TAG +DIGEST +STATUS +TRIGGER +STARTED +DURATION$/);
    expect(rows.map((r) => r.split(/ {2,}/).slice(0, 6))).toEqual([
      [goodId, SERVICE, 'v8.0.0', short, 'succeeded', 'push'],
    ]);
    expect(listJson.code, listJson.stderr).toBe(0);
    expect(JSON.parse(listJson.stdout)).toEqual({
      items: [
        expect.objectContaining({ id: goodId, service: SERVICE, digest: good.digest, status: 'succeeded' }),
      ],
    });
    // Assert: status, as text and as the API's view
    expect(status.code, status.stderr).toBe(0);
    const text = status.stdout;
    expect(text).toMatch(new RegExp(`^${SERVICE} {2}demo:v8\\.0\\.0 {2}${short} {2}succeeded {2}\\S+\n`));
    expect(text).toContain(`│ id ${goodId} · push · policy web · started `);
    expect(text).toMatch(/^│ approved by user\/cli-operator$/m);
    expect(text).toMatch(/^├─ canary c1 \(34%\) {2}promoted {2}3\/3(?: {2}— cluster c1: .*)?$/m);
    expect(text).toMatch(/^├─ analysis {2}Successful/m);
    expect(text).toMatch(/^├─ wave first {2}done$/m);
    expect(text).toMatch(/^├─ wave rest {2}done$/m);
    for (const c of ['c1', 'c2', 'c3'])
      expect(text).toMatch(
        new RegExp(
          `[├└]─ ${c} {2}promoted {2}3/3 {2}${shortDigest(base.digest)} → ${short}(?: {2}— cluster ${c}: .*)?$`,
          'm',
        ),
      );
    expect(text).toMatch(/^└─ actions$/m);
    expect(text).toMatch(
      / {3}├─ \d\d:\d\d:\d\d {2}pause {2}by user\/cli-operator {2}"hold before the waves"$/m,
    );
    expect(text).toMatch(/ {3}└─ \d\d:\d\d:\d\d {2}resume {2}by user\/cli-operator$/m);
    expect(text).toMatch(
      new RegExp(
        `^execution: https://us-east-1\\.console\\.aws\\.amazon\\.com/states/home\\?region=us-east-1#/v2/executions/details/arn:aws:states:us-east-1:000000000000:execution:[^:]+:${goodId}\n$`,
        'm',
      ),
    );
    expect(statusJson.code, statusJson.stderr).toBe(0);
    expect(JSON.parse(statusJson.stdout)).toEqual((await view(goodId)).body);

    // Assert: refusals, each with the API's message, its status and the exit code
    expect(unknown).toEqual({
      code: 1,
      stdout: '',
      stderr: 'deployer: 404 Not Found: no deployment web-v0-000000000000 is recorded\n',
    });
    expect(ended409).toEqual({
      code: 1,
      stdout: '',
      stderr: `deployer: 409 Conflict: deployment ${goodId} is succeeded: it has ended; approve applies only while it runs (deployment status: succeeded)\n`,
    });
    expect(resumed409).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^deployer: 409 Conflict: .*\(deployment status: succeeded\)\n$/),
    });
    expect(badId).toMatchObject({
      code: 2,
      stdout: '',
      stderr: expect.stringMatching(/^deployer: 400 Bad Request: .*\(field path\.id\)\n$/),
    });
    expect(badReason).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^deployer: 400 Bad Request: .*\(field body\.reason\)\n$/),
    });
    expect(badNext).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^deployer: 400 Bad Request: .*\(field query\.next\)\n$/),
    });
    expect(unknownService).toEqual({
      code: 1,
      stdout: '',
      stderr: 'deployer: 404 Not Found: no deployment of service nosuch is recorded\n',
    });
    expect(retrySucceeded).toMatchObject({
      code: 1,
      stderr: `deployer: 409 Conflict: deployment ${goodId} is succeeded: only a failed or rolled-back deployment is retried (deployment status: succeeded)\n`,
    });
    // Nothing was changed by the refusals
    expect((await view(goodId)).body.actions.map((a) => a.action)).toEqual(['pause', 'approve', 'resume']);
  });

  let rejectedId: string;
  let retriedId: string;

  it('rejects a canary, retries its digest as a new deployment, and aborts the retry', async () => {
    // Arrange
    const bad = await release(rt, { tag: 'v8.1.0' });
    rejectedId = await deploymentIdOf(rt, bad.digest);
    await until(rejectedId, (v) => v.status === 'awaiting-approval');
    // Act: reject
    const reject = await deployer('reject', rejectedId, '--reason', 'wrong build');
    const rejected = await until(rejectedId, ended);
    // Assert
    expect(reject, reject.stderr).toMatchObject({
      code: 0,
      stdout: `reject ${rejectedId}: rejected: it rolls back (by ${OPERATOR_ARN})\n`,
    });
    expect(rejected.status).toBe('rolled-back');
    expect(rejected.reason).toMatch(/rejected by arn:aws:iam::000000000000:user\/cli-operator: wrong build/);

    // Act: retry (the service's latest rolled-back deployment), then abort it while it awaits approval
    const retry = await deployer('retry', SERVICE, '--reason', 'the build was fine after all');
    expect(retry.code, retry.stderr).toBe(0);
    const started = /^retry of web started: deployment (\S+) deploys (\S+) \(retrying (\S+)\)$/m.exec(
      retry.stdout,
    );
    expect(started, retry.stdout).not.toBeNull();
    retriedId = started?.[1] as string;
    expect(started?.slice(2)).toEqual([shortDigest(bad.digest), rejectedId]);
    expect(retry.stdout).toContain(`follow it: deployer watch ${retriedId}\n`);
    const waiting = await until(retriedId, (v) => v.status === 'awaiting-approval');
    const abort = await deployer('abort', retriedId, '--reason', 'not today');
    const aborted = await until(retriedId, ended);

    // Assert
    expect(waiting).toMatchObject({
      trigger: 'retry',
      of: rejectedId,
      digest: bad.digest,
      requestedBy: OPERATOR_ARN,
    });
    expect(abort, abort.stderr).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(
        new RegExp(`^abort ${retriedId}: abort requested: it rolls back .*\\(by ${OPERATOR_ARN}\\)\n$`),
      ),
    });
    expect(aborted.status).toBe('rolled-back');
    expect(aborted.reason).toMatch(/aborted by arn:aws:iam::000000000000:user\/cli-operator: not today/);
    expect(aborted.actions.map((a) => [a.action, a.by, a.reason])).toEqual([
      ['retry', OPERATOR_ARN, 'the build was fine after all'],
      ['abort', OPERATOR_ARN, 'not today'],
    ]);
    expect(Object.values(await clusterImages(rt))).toEqual(
      Array(3).fill({ image: good.digestReference, canary: false }),
    );
  });

  it('undoes the good release (promoting past its analysis), and history exports the audit trail', async () => {
    // Act: undo; approve the canary, then promote past the rest of its analysis
    const undo = await deployer('undo', SERVICE, '--reason', 'customers report slowness');
    expect(undo.code, undo.stderr).toBe(0);
    const started = /^undo of web started: deployment (\S+) deploys (\S+) \(undoing (\S+)\)$/m.exec(
      undo.stdout,
    );
    expect(started, undo.stdout).not.toBeNull();
    const undoId = started?.[1] as string;
    expect(started?.slice(2)).toEqual([shortDigest(base.digest), goodId]);
    await until(undoId, (v) => v.status === 'awaiting-approval');
    const approve = await deployer('approve', undoId);
    const promote = await deployer('promote', undoId, '--reason', 'no need to wait');
    const undone = await until(undoId, ended);
    const [history, jsonl] = await Promise.all([
      deployer('history', SERVICE),
      deployer('history', SERVICE, '--jsonl'),
    ]);

    // Assert: the undo went through the workflow, skipping the analysis by the operator's promote
    expect(approve.code, approve.stderr).toBe(0);
    expect(promote, promote.stderr).toMatchObject({
      code: 0,
      stdout: `promote ${undoId}: the analysis ends as passed at its next round, skipping the rest (by ${OPERATOR_ARN})\n`,
    });
    expect(undone.status).toBe('succeeded');
    expect(undone.analysis.decidedBy).toBe(`analysis skipped by ${OPERATOR_ARN}'s promote: no need to wait`);
    expect(Object.values(await clusterImages(rt))).toEqual(
      Array(3).fill({ image: base.digestReference, canary: false }),
    );

    // Assert: history as JSON lines, newest first, with before/after per cluster and who did what
    expect(jsonl.code, jsonl.stderr).toBe(0);
    const entries = jsonl.stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as DeploymentSummary);
    expect(entries.map((e) => [e.id, e.trigger, e.status, e.of ?? null])).toEqual([
      [undoId, 'undo', 'succeeded', goodId],
      [retriedId, 'retry', 'rolled-back', rejectedId],
      [rejectedId, 'push', 'rolled-back', null],
      [goodId, 'push', 'succeeded', null],
    ]);
    const [u, , , g] = entries as [
      DeploymentSummary,
      DeploymentSummary,
      DeploymentSummary,
      DeploymentSummary,
    ];
    expect(u.clusters).toEqual(
      ['c1', 'c2', 'c3'].map((cluster) => ({ cluster, before: good.digest, after: base.digest })),
    );
    expect(g.clusters).toEqual(
      ['c1', 'c2', 'c3'].map((cluster) => ({ cluster, before: base.digest, after: good.digest })),
    );
    expect(u).toMatchObject({ requestedBy: OPERATOR_ARN, approver: OPERATOR_ARN });
    expect(u.actions.map((a) => [a.action, a.by, a.reason ?? null])).toEqual([
      ['undo', OPERATOR_ARN, 'customers report slowness'],
      ['approve', OPERATOR_ARN, null],
      ['promote', OPERATOR_ARN, 'no need to wait'],
    ]);
    expect(g.actions.map((a) => [a.action, a.by])).toEqual([
      ['pause', OPERATOR_ARN],
      ['approve', OPERATOR_ARN],
      ['resume', OPERATOR_ARN],
    ]);
    // …and as the table a person reads
    expect(history.code, history.stderr).toBe(0);
    const table = history.stdout;
    expect(table).toMatch(/^STARTED +FINISHED +ID +TRIGGER +TAG +DIGEST +STATUS +REQUESTED BY +APPROVER\n/);
    expect(table).toMatch(
      new RegExp(
        `^\\S+Z +\\S+Z +${undoId} +undo of ${goodId} +\\S+ +${shortDigest(base.digest)} +succeeded +${OPERATOR_ARN} +${OPERATOR_ARN}$`,
        'm',
      ),
    );
    expect(table).toMatch(
      new RegExp(`^\\S+Z +\\S+Z +${rejectedId} +push +v8\\.1\\.0 +\\S+ +rolled-back +- +-$`, 'm'),
    );
    expect(table).toContain(`    c2  ${shortDigest(good.digest)} → ${shortDigest(base.digest)}\n`);
    expect(table).toMatch(
      new RegExp(`^ {4}\\S+Z {2}undo by ${OPERATOR_ARN}: "customers report slowness"$`, 'm'),
    );
    expect(table).toMatch(
      /^ {4}reason: .*rejected by arn:aws:iam::000000000000:user\/cli-operator: wrong build/m,
    );
  });
});
