import { defineConfig } from 'vitest/config';

/**
 * Projects, mirroring the source tree:
 * - unit: no network beyond loopback servers a test starts itself;
 * - bundles: the built Lambda bundles (dist/functions, `npm run build` first) load and reject bad input;
 * - infra: the Pulumi program under pulumi.runtime.setMocks (no CLI, no provider plugin);
 * - integration: real dockerd, Prometheus and registry on the local fleet (global setup brings it up);
 * - e2e: the whole workflow on the local runtime.
 * Integration and e2e files run one at a time: they share the fleet and two CPU cores.
 */
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'bundles',
          include: ['test/bundles/**/*.test.ts'],
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'infra',
          include: ['test/infra/**/*.test.ts'],
          testTimeout: 60_000,
          // One stack configuration per file: Pulumi's mocks are process-wide.
          pool: 'forks',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/integration/global-setup.ts'],
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 300_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: ['test/integration/global-setup.ts'],
          fileParallelism: false,
          testTimeout: 600_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
