/**
 * Throughput and p99 latency of `GET /` and `GET /projects` (100 projects, fs object store,
 * real token auth, rate limits raised out of the way, logging off).
 *
 *   npx tsx bench/api-status-bench.ts [--connections 10] [--duration 5]
 *
 * The server runs in a child process so the load generator (autocannon) does not share its
 * event loop. Each endpoint is loaded for a fixed number of seconds after a 2000-request warm-up.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import { createApi, MemoryDatabaseRegistry } from '../src/api/index.js';
import { ObjectStoreProjectStore } from '../src/service/index.js';
import { FileTokenStore } from '../src/auth/index.js';
import { createObjectStore } from '../src/storage/index.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

async function serve(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pitrd-bench-'));
  const tokens = new FileTokenStore(join(dir, 'tokens.json'));
  const { token } = await tokens.create({ name: 'bench', projects: ['*'], tier: 'pro' });
  const store = createObjectStore({ type: 'fs', path: join(dir, 'repo') });
  const projects = new ObjectStoreProjectStore(store);
  for (let i = 0; i < 100; i++) await projects.create(`bench-${i}`);
  const huge = { perMinute: 1e9, burst: 1e9 };
  const app = await createApi({ services: { projects, databases: new MemoryDatabaseRegistry() }, auth: tokens, logger: false, rateLimits: { pro: huge, free: huge } });
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  process.stdout.write(`${JSON.stringify({ address, token })}\n`);
  const stop = async () => {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
}

async function main(): Promise<void> {
  const connections = arg('connections', 10);
  const duration = arg('duration', 5);
  const child = spawn(process.execPath, ['--import', 'tsx', new URL(import.meta.url).pathname, '--serve'], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once('line', resolve);
      child.once('exit', (code) => reject(new Error(`bench server exited early (${code})`)));
    });
    const { address, token } = JSON.parse(line) as { address: string; token: string };
    const headers = { authorization: `Bearer ${token}` };
    const rows: string[] = [];
    for (const [path, h] of [['/', {}], ['/projects', headers]] as const) {
      await autocannon({ url: `${address}${path}`, connections, amount: 2000, headers: h }); // warm-up
      // A fixed duration, not a request count: with `amount` autocannon only notices the end at its
      // next one-second tick, which would quantise the rate.
      const r = await autocannon({ url: `${address}${path}`, connections, duration, headers: h });
      const seconds = r.duration;
      if (r.non2xx > 0 || r.errors > 0) throw new Error(`GET ${path}: ${r.non2xx} non-2xx, ${r.errors} errors: ${JSON.stringify(r.statusCodeStats)}`);
      rows.push(`GET ${path.padEnd(10)} ${String(Math.round(r.requests.total / seconds)).padStart(7)} req/s   p50 ${r.latency.p50} ms   p99 ${r.latency.p99} ms   (${r.requests.total} requests in ${seconds} s, ${connections} connections)`);
    }
    process.stdout.write(`${rows.join('\n')}\n`);
  } finally {
    child.kill('SIGTERM');
  }
}

if (process.argv.includes('--serve')) await serve();
else await main();
