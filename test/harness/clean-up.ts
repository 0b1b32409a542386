/**
 * Test teardown: run every step in order even when one fails (a daemon that would not close must
 * not leave its PostgreSQL and S3 server running), then fail with the first error.
 */
export async function cleanUp(...steps: Array<() => Promise<unknown> | undefined>): Promise<void> {
  let first: { error: unknown } | null = null;
  for (const step of steps) {
    try {
      await step();
    } catch (error) {
      first ??= { error };
    }
  }
  if (first) throw first.error;
}
