/**
 * The local runtime as a process (what `npm run local -- up` starts in the background): the whole
 * product against the local fleet until SIGTERM. Writes <stateDir>/runtime.json once ready.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createDemoService,
  dockerFor,
  pushDemo,
  registryAuth,
  waitForRunning,
} from '../../test/integration/support/fleet.js';
import { startLocalRuntime } from './runtime.js';

const log = (line: string) => console.log(`${new Date().toISOString()} ${line}`);
const clusters = Number(process.env.LOCAL_CLUSTERS ?? 3);
const rt = await startLocalRuntime({ fleet: { clusters }, log });

// The demo service the default policy deploys: created once from an image no policy matches.
const base = await pushDemo(rt.fleet, { tag: 'base' });
for (const c of rt.fleet.clusters) {
  const docker = dockerFor(c);
  const exists = await docker
    .getService('web')
    .inspect()
    .then(
      () => true,
      () => false,
    );
  if (!exists)
    await createDemoService(docker, {
      name: 'web',
      image: base.digestReference,
      replicas: 3,
      auth: registryAuth(rt.fleet),
    });
}
for (const c of rt.fleet.clusters) await waitForRunning(dockerFor(c), 'web', 3);
rt.engine.onStatusChange((e) =>
  log(`execution ${e.detail.name}: ${e.detail.status}${e.detail.error ? ` ${e.detail.error}` : ''}`),
);
rt.aws.sns.onPublish((m) => log(`SNS ${m.subject ?? ''}`));

// The release manager the CLI signs API calls as (the approver role's permissions).
const releaseManager = rt.user('local-operator');
await writeFile(
  join(rt.fleet.stateDir, 'runtime.json'),
  JSON.stringify(
    {
      pid: process.pid,
      stateMachineArn: rt.stateMachineArn,
      topicArn: rt.topicArn,
      env: rt.env,
      registry: rt.fleet.registry.address,
      api: {
        url: rt.api.url,
        credentials: {
          accessKeyId: releaseManager.accessKeyId,
          secretAccessKey: releaseManager.secretAccessKey,
        },
      },
    },
    null,
    2,
  ),
  { mode: 0o600 },
);
log('ready');

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    void rt.stop().then(() => process.exit(0));
  });
}
