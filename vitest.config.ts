import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // The e2e files bring their own rigs up against the one real engine; two at a time fits two cores.
    maxWorkers: 2,
    projects: [
      // A unit test that starts a process (the etcd proxy, ansible) may take seconds on a loaded machine.
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 30_000 } },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.e2e.test.ts'],
          globalSetup: ['test/e2e/global-setup.ts'],
          testTimeout: 240_000,
          hookTimeout: 240_000,
        },
      },
    ],
  },
});
