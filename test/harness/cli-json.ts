/**
 * Every CLI command's --json output is the API's envelope (src/cli/report.ts). `cliJson` returns
 * the `data` of a success envelope, and fails with the whole text otherwise, so a test reads the
 * result the way a script would.
 */
export function cliJson<T = unknown>(stdout: string): T {
  let doc: unknown;
  try {
    doc = JSON.parse(stdout);
  } catch {
    throw new Error(`stdout is not one JSON document: ${stdout.slice(0, 500)}`);
  }
  const env = doc as { success?: unknown; data?: unknown };
  if (env.success !== true || !('data' in env)) throw new Error(`not a success envelope: ${stdout.slice(0, 500)}`);
  return env.data as T;
}

/** The `error` of a failure envelope (`{"success":false,"error":{code,message,…}}`). */
export function cliJsonError(stdout: string): { code: string; message: string; [k: string]: unknown } {
  const env = JSON.parse(stdout) as { success?: unknown; error?: { code: string; message: string } };
  if (env.success !== false || !env.error) throw new Error(`not an error envelope: ${stdout.slice(0, 500)}`);
  return env.error;
}
