import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { down, up } from '../../../local/fleet/fleet.js';
import { run } from '../../../local/fleet/sys.js';

const exec = promisify(execFile);

/**
 * The environment problems a person meets first, each answered by one message that names the
 * problem and the fix. Missing programs and a dynamic busybox are covered in test/unit/fleet.
 */
describe('fleet up in a bad environment', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  it('refuses a namespace of the same name that it did not create', async () => {
    // Prepare
    await run('ip', ['netns', 'add', 'dplx-c1']);
    cleanups.push(() => run('ip', ['netns', 'del', 'dplx-c1'], { allowFail: true }));
    // Act
    const attempt = up({ name: 'dplx', clusters: 1, subnet: 233 });
    // Assess
    await expect(attempt).rejects.toThrow(
      /namespace dplx-c1 already exists and was not created by this fleet[\s\S]*fix: remove it with `ip netns del dplx-c1`/,
    );
    expect((await run('ip', ['netns', 'list'])).stdout).toContain('dplx-c1'); // left alone
  });

  it('refuses an address range that is already in use on the host', async () => {
    // Prepare
    await run('ip', ['link', 'add', 'dplxdummy', 'type', 'veth', 'peer', 'name', 'dplxpeer']);
    cleanups.push(() => run('ip', ['link', 'del', 'dplxdummy'], { allowFail: true }));
    await run('ip', ['addr', 'add', '10.234.7.1/24', 'dev', 'dplxdummy']);
    // Act
    const attempt = up({ name: 'dplx', clusters: 1, subnet: 234 });
    // Assess
    await expect(attempt).rejects.toThrow(
      /10\.234\.0\.0\/16 is already in use on this host: dplxdummy has 10\.234\.7\.1\/24[\s\S]*fix: pick a free range with --subnet/,
    );
    cleanups.push(() => down({ name: 'dplx', subnet: 234 }));
  });

  it('tells a user who is not root to run it as root', async () => {
    // Act: the real CLI, as user nobody
    const attempt = exec(
      'setpriv',
      [
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        process.execPath,
        'node_modules/tsx/dist/cli.mjs',
        'local/fleet/cli.ts',
        'up',
      ],
      {
        env: { ...process.env, HOME: '/tmp' },
      },
    );
    // Assess
    await expect(attempt).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(
        /must run as root[\s\S]*fix: run it as root, e\.g\. `sudo npm run fleet -- up`/,
      ),
    });
  });
});
