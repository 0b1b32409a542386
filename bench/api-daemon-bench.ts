/**
 * The status endpoints of a real `pitrd serve` while its receiver streams WAL from a loaded
 * PostgreSQL 15 (`pgbench -c 4` running throughout): requests/s and p50/p99 latency of
 *   GET /, GET …/pitr/receiver-status, GET …/pitr/config, GET …/pitr/recovery-window, GET …/health
 *
 *   npx tsx bench/api-daemon-bench.ts [--connections 10] [--duration 10]
 *
 * The daemon is the CLI in its own process (as users run it); autocannon runs here. Rate limits
 * are raised out of the way in the config (the bench measures the work, not the limiter). A base
 * backup is taken first so the recovery window is a real one.
 */
import { writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import autocannon from 'autocannon';
import { stringify as toYaml } from 'yaml';
import { FileTokenStore } from '../src/auth/index.js';
import { freePort, makeTempDir, startPostgres } from '../test/harness/index.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

async function until<T>(what: string, f: () => Promise<T | null | undefined | false>, ms = 120_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f().catch(() => null);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const connections = arg('connections', 10);
const duration = arg('duration', 10);
const root = join(import.meta.dirname, '..');
const pg = await startPostgres({ password: 'bench-pw' });
const dir = makeTempDir('pitrd-api-bench');
let daemon: ResultPromise | null = null;
let load: ResultPromise | null = null;
try {
  // A free-tier token: the config's rate_limit (raised below) sets that tier's bucket.
  const token = (await new FileTokenStore(join(dir, 'tokens.json')).create({ name: 'bench', projects: ['*'], tier: 'free' })).token;
  const port = await freePort();
  writeFileSync(join(dir, 'pg.pass'), 'bench-pw\n', { mode: 0o600 });
  writeFileSync(
    join(dir, 'pitrd.yaml'),
    toYaml({
      storage: { type: 'fs', path: 'repo' },
      spool_dir: 'spool',
      api: { listen: { host: '127.0.0.1', port }, tokens_file: 'tokens.json', rate_limit: { requests_per_minute: 100_000_000, burst: 100_000_000 } },
      databases: [{ name: 'main', project: 'bench', backup: { schedule: '0 3 1 1 *' }, connection: { host: '127.0.0.1', port: pg.port, user: 'postgres', password_file: 'pg.pass', dbname: 'postgres', sslmode: 'disable' } }],
    }),
  );
  daemon = execa(process.execPath, ['--import', import.meta.resolve('tsx'), join(root, 'src/cli/main.ts'), 'serve', '-c', join(dir, 'pitrd.yaml')], { cwd: dir, reject: false, env: { PITRD_LOG_LEVEL: 'warn' } });
  const url = `http://127.0.0.1:${port}`;
  const headers = { authorization: `Bearer ${token}` };
  const get = async (path: string) => (await (await fetch(`${url}${path}`, { headers })).json()) as { data: any };
  const base = '/projects/bench/databases/main';
  await until('receiver streaming', async () => (await get(`${base}/pitr/receiver-status`)).data?.status === 'running');

  await pg.exec('pgbench', ['-h', '127.0.0.1', '-p', String(pg.port), '-U', 'postgres', '-i', '-s', '10', '-q', 'postgres'], { env: { PGPASSWORD: 'bench-pw' } });
  const backup = await (await fetch(`${url}${base}/backups`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: '{}' })).json() as { data: { id: string } };
  await until('base backup completed', async () => (await get(`${base}/backups/${backup.data.id}`)).data?.status === 'completed', 300_000);
  // Load for the whole measurement: the receiver streams while the API answers.
  const seconds = (duration + 3) * 6;
  load = pg.exec('pgbench', ['-h', '127.0.0.1', '-p', String(pg.port), '-U', 'postgres', '-c', '4', '-j', '2', '-T', String(seconds), 'postgres'], { env: { PGPASSWORD: 'bench-pw' }, reject: false });
  await until('recovery window', async () => (await get(`${base}/pitr/recovery-window`)).data?.status === 'ok');
  const before = (await get(`${base}/pitr/receiver-status`)).data;

  const rows: string[] = [];
  for (const path of ['/', `${base}/pitr/receiver-status`, `${base}/pitr/config`, `${base}/pitr/recovery-window`, `${base}/health`]) {
    const h = path === '/' ? {} : headers;
    await autocannon({ url: `${url}${path}`, connections, amount: 1000, headers: h }); // warm-up
    const r = await autocannon({ url: `${url}${path}`, connections, duration, headers: h });
    if (r.non2xx > 0 || r.errors > 0) throw new Error(`GET ${path}: ${r.non2xx} non-2xx, ${r.errors} errors: ${JSON.stringify(r.statusCodeStats)}`);
    rows.push(`GET ${path.replace(base, '…').padEnd(26)} ${String(Math.round(r.requests.total / r.duration)).padStart(7)} req/s   p50 ${r.latency.p50} ms   p99 ${r.latency.p99} ms   (${r.requests.total} requests, ${connections} connections)`);
  }
  const after = (await get(`${base}/pitr/receiver-status`)).data;
  const mb = (after.bytes_received - before.bytes_received) / 1e6;
  console.log(rows.join('\n'));
  console.log(`receiver during the measurement: ${mb.toFixed(0)} MB of WAL received, ${after.segments_archived - before.segments_archived} segments archived, status ${after.status}; loadavg ${(await import('node:fs')).readFileSync('/proc/loadavg', 'utf8').trim()}`);
} finally {
  const stop = (p: ResultPromise | null) => {
    try {
      if (p?.pid !== undefined && p.exitCode === null) process.kill(p.pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
  };
  stop(load);
  await load?.catch(() => undefined);
  stop(daemon);
  await daemon?.catch(() => undefined);
  await pg.destroy();
  rmSync(dir, { recursive: true, force: true });
}
