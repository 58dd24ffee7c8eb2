import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RefreshOutcome } from '../../functions/lib/deploy/refresh.js';
import type { LocalRuntime } from '../../local/runtime/runtime.js';
import { dockerFor, waitForRunning } from '../integration/support/fleet.js';
import { baseline, clusterImages, finished, policy, release, SERVICE, startRuntime } from './support.js';

/** ECR tokens last 12 hours; here they last this long, so that the test can outlive one. */
const TOKEN_SECONDS = 30;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The tasks of `web` on a cluster: how many run the image, and the errors of those that did not start. */
async function tasksOf(docker: Docker, image: string) {
  const tasks = await docker.listTasks({ filters: { service: [SERVICE] } });
  const t = tasks as Array<{
    DesiredState: string;
    Status: { State: string; Err?: string };
    Spec: { ContainerSpec: { Image: string } };
  }>;
  return {
    running: t.filter((x) => x.Status.State === 'running' && x.Spec.ContainerSpec.Image === image).length,
    errors: t.map((x) => x.Status.Err ?? '').filter((e) => e !== ''),
  };
}

/**
 * What Swarm does when a node is lost or a container dies hours after the deployment: it starts a
 * new task, which must pull the image on a node that does not have it, with the credentials Swarm
 * stored at the service's last update. Here: the image removed, then every container of `web`.
 * The image goes first (forced: untagged while its containers run), so that a task Swarm restarts
 * between the two removals cannot start from the local copy.
 */
async function forceReschedule(docker: Docker, image: string): Promise<void> {
  await docker
    .getImage(image)
    .remove({ force: true })
    .catch(() => {});
  const containers = await docker.listContainers({
    all: true,
    filters: { label: [`com.docker.swarm.service.name=${SERVICE}`] },
  });
  for (const c of containers) await docker.getContainer(c.Id).remove({ force: true });
  await docker
    .getImage(image)
    .remove({ force: true })
    .catch(() => {});
}

describe('registry credentials that expire (ECR tokens)', () => {
  let rt: LocalRuntime;

  beforeAll(async () => {
    // The shared policy's analysis (three rounds, two may be inconclusive): one round on a freshly
    // started Prometheus may find too few samples and must not fail the release.
    rt = await startRuntime(policy(), { ecrTokenSeconds: TOKEN_SECONDS });
  });
  afterAll(async () => {
    await rt?.stop();
  });

  it('a task Swarm reschedules after the token expired cannot pull, and pulls again once the scheduled refresh ran', async () => {
    // Prepare: a release deployed with short-lived tokens, then every token it stored expired
    await baseline(rt);
    const rel = await release(rt, { tag: 'v8.1.0' });
    const [execution] = await finished(rt, rel.digest);
    expect(execution?.status, `${execution?.error}: ${execution?.cause}`).toBe('SUCCEEDED');
    await sleep((TOKEN_SECONDS + 5) * 1000);
    const c2 = dockerFor(rt.fleet.clusters[1] as never);

    // Act: c2 loses its containers and the image (a node replaced, say)
    await forceReschedule(c2, rel.digestReference);

    // Assess: the new tasks cannot pull with the expired credentials Swarm stored
    let stuck = await tasksOf(c2, rel.digestReference);
    for (let i = 0; i < 30 && !stuck.errors.some((e) => /No such image/.test(e)); i++) {
      await sleep(1000);
      stuck = await tasksOf(c2, rel.digestReference);
    }
    expect(
      stuck.errors.some((e) => /No such image/.test(e)),
      JSON.stringify(stuck.errors),
    ).toBe(true);
    expect(stuck.running).toBe(0);

    // Act: the schedule fires (every registryAuthRefreshHours on AWS)
    const refreshed = (await rt.fireSchedule('registry-auth')) as { outcomes: RefreshOutcome[] };

    // Assess: every cluster's service has fresh credentials, and Swarm's next try on c2 pulls
    expect(refreshed.outcomes.map((o) => [o.cluster, o.outcome])).toEqual([
      ['c1', 'refreshed'],
      ['c2', 'refreshed'],
      ['c3', 'refreshed'],
    ]);
    await waitForRunning(c2, SERVICE, 3, 60_000);
    expect((await tasksOf(c2, rel.digestReference)).running).toBe(3);
    // …and the refresh restarted nothing elsewhere: c1 and c3 still run the release, unchanged
    expect(await clusterImages(rt)).toEqual({
      c1: { image: rel.digestReference, canary: false },
      c2: { image: rel.digestReference, canary: false },
      c3: { image: rel.digestReference, canary: false },
    });
  });
});
