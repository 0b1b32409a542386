// Container HEALTHCHECK: GET / on the API pitrd is configured to listen on, with Node alone
// (the slim image has no curl). Healthy = HTTP 200 with {success: true, data: {status: "healthy"}}.
//
// The address comes from pitrd's own config loader (file + PITRD_* environment, exactly what the
// daemon uses), so a port changed in the config file cannot leave the check probing the wrong one.
// PITRD_HEALTHCHECK_URL overrides it (e.g. behind a TLS proxy in the same container).
const TIMEOUT_MS = 4000;

function fail(why) {
  process.stderr.write(`unhealthy: ${why}\n`);
  process.exit(1);
}

async function target() {
  if (process.env.PITRD_HEALTHCHECK_URL) return process.env.PITRD_HEALTHCHECK_URL;
  const { loadConfig } = await import(new URL('../dist/config/index.js', import.meta.url).href);
  const file = process.env.PITRD_CONFIG || undefined;
  const { host, port } = loadConfig(file === undefined ? {} : { file }).api.listen;
  // A wildcard address is reached through loopback from inside the container.
  const reach = host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host;
  return `http://${reach.includes(':') ? `[${reach}]` : reach}:${port}/`;
}

try {
  const url = await target();
  const res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  if (res.status !== 200) fail(`${url} answered HTTP ${res.status}`);
  const body = await res.json();
  if (body?.success !== true || body?.data?.status !== 'healthy') fail(`${url} answered ${JSON.stringify(body).slice(0, 200)}`);
  process.exit(0);
} catch (err) {
  fail(err instanceof Error ? err.message : String(err));
}
