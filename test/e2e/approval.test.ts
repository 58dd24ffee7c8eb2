import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '../../local/runtime/runtime.js';
import {
  alertOf,
  baseline,
  callApi,
  clusterImages,
  deploymentIdOf,
  finished,
  policy,
  release,
  startRuntime,
} from './support.js';

const APPROVER = 'arn:aws:iam::000000000000:user/alice';

describe('manual approval', () => {
  let rt: LocalRuntime;

  beforeAll(async () => {
    rt = await startRuntime(
      policy({ promotion: { mode: 'manual', approvalTimeoutSeconds: 20, onTimeout: 'rollback' } }),
    );
  });
  afterAll(async () => {
    await rt?.stop();
  });

  it('promotes an approved canary, and records the approver', async () => {
    await baseline(rt);
    const rel = await release(rt, { tag: 'v3.0.0' });
    await alertOf(rt, rel.digest, 'awaiting-approval');
    const id = await deploymentIdOf(rt, rel.digest);
    // The API refuses a caller it cannot identify (API Gateway, before the function), and a
    // deployment that is not waiting.
    expect(await callApi(rt, id, 'approve', undefined)).toEqual({
      status: 403,
      body: { message: 'Forbidden' },
    });
    expect((await callApi(rt, 'web-v0-000000000000', 'approve', APPROVER)).status).toBe(404);
    // Act
    const res = await callApi(rt, id, 'approve', APPROVER, { reason: 'metrics look fine' });
    const [execution] = await finished(rt, rel.digest);
    // Assess
    expect(res).toEqual({
      status: 200,
      body: {
        deploymentId: id,
        action: 'approve',
        by: APPROVER,
        outcome: expect.stringMatching(/^approved/),
      },
    });
    expect(execution?.status).toBe('SUCCEEDED');
    expect(JSON.parse(execution?.output ?? '{}').approval).toMatchObject({
      decision: 'approved',
      approver: APPROVER,
      reason: 'metrics look fine',
    });
    expect(Object.values(await clusterImages(rt))).toEqual(
      Array(3).fill({ image: rel.digestReference, canary: false }),
    );
    // The token never reaches people
    const waiting = await alertOf(rt, rel.digest, 'awaiting-approval');
    expect(JSON.stringify(waiting)).not.toMatch(/token/i);
  });

  it('rolls back a rejected canary, naming who rejected it', async () => {
    const base = await baseline(rt);
    const rel = await release(rt, { tag: 'v3.1.0' });
    await alertOf(rt, rel.digest, 'awaiting-approval');
    const id = await deploymentIdOf(rt, rel.digest);
    const res = await callApi(rt, id, 'reject', APPROVER, { reason: 'wrong build' });
    const [execution] = await finished(rt, rel.digest);
    expect(res.body).toMatchObject({ action: 'reject', outcome: expect.stringMatching(/^rejected/) });
    expect(execution?.status).toBe('FAILED');
    expect(execution?.error).toBe('ApprovalRejectedError');
    expect(execution?.cause).toBe(`rejected by ${APPROVER}: wrong build`);
    expect(Object.values(await clusterImages(rt))).toEqual(
      Array(3).fill({ image: base.digestReference, canary: false }),
    );
    expect((await alertOf(rt, rel.digest, 'rolled-back')).summary).toMatch(
      /ApprovalRejectedError: rejected by arn:aws:iam::000000000000:user\/alice: wrong build/,
    );
  });

  it('rolls back a canary nobody decides on before the approval timeout', async () => {
    const base = await baseline(rt);
    const rel = await release(rt, { tag: 'v3.2.0' });
    await alertOf(rt, rel.digest, 'awaiting-approval');
    const [execution] = await finished(rt, rel.digest);
    expect(execution?.status).toBe('FAILED');
    expect(execution?.error).toBe('ApprovalTimedOutError');
    expect(Object.values(await clusterImages(rt))).toEqual(
      Array(3).fill({ image: base.digestReference, canary: false }),
    );
    expect((await alertOf(rt, rel.digest, 'rolled-back')).summary).toMatch(
      /ApprovalTimedOutError: nobody approved or rejected the canary/,
    );
  });
});
