import { defineConfig } from 'vitest/config';

// Integration tests start real PostgreSQL clusters and an S3 server; on a 2-core machine
// a small number of parallel files keeps them from starving each other.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
    fileParallelism: true,
    reporters: ['default'],
  },
});
