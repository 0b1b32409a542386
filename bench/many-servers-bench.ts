/**
 * One `pitrd serve` protecting N small PostgreSQL 15 clusters at once (issue 20's target: 20
 * servers, ≤ 25 MB of daemon RSS per server, flush lag p99 ≤ 1 s on each):
 *
 *   npx tsx bench/many-servers-bench.ts [--servers 20] [--seconds 60] [--rate 50]
 *
 * Each cluster (harness initdb, small shared_buffers) gets `pgbench -i -s 1`, then
 * `pgbench -c 1 -R <rate>` for --seconds, all at once. The daemon is the CLI in its own process
 * with one fs repository and a database entry per cluster. Printed:
 *  - the daemon's RSS once every receiver streams and before any load (idle), its peak and mean
 *    while loaded, each also per server (RSS / N: the whole daemon, main thread included);
 *  - its CPU seconds (all threads, /proc) per GB of WAL its receivers took in during the load
 *    (bytes_received from each database's receiver-status);
 *  - per server, flush lag as the server sees it (pg_stat_replication.flush_lag of pitrd's
 *    walsender, sampled every second; NULL, i.e. caught up, counts as 0): p50, p99, max;
 *  - the disk's own dd figures and the load average (the machine may be shared).
 * BENCH_DAEMON_LOG=<file>: the daemon's output (its warnings and errors) goes to that file.
 */
import { execa, type ResultPromise } from 'execa';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { stringify as toYaml } from 'yaml';
import { FileTokenStore } from '../src/auth/index.js';
import { freePort, makeTempDir, startPostgres, type PgCluster } from '../test/harness/index.js';
import { describeDisk } from './lib/disk.js';
import { quantile } from './lib/timing.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const servers = arg('servers', 20);
const seconds = arg('seconds', 60);
const rate = arg('rate', 50);
const TICK = 100;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function cpuTicks(pid: number): number {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}
function rssMB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}
function threadsOf(pid: number): number {
  const m = /Threads:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').trim().split(' ').slice(0, 3).join(' ');

async function until<T>(what: string, f: () => Promise<T | null | undefined | false>, ms = 300_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f().catch(() => null);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(500);
  }
}

/** `n` tasks, at most `width` at a time. */
async function inBatches<T>(n: number, width: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, n) }, async () => {
      for (let i = next++; i < n; i = next++) out[i] = await task(i);
    }),
  );
  return out;
}

const dir = makeTempDir('pitrd-many');
const clusters: PgCluster[] = [];
const clients: pg.Client[] = [];
let daemon: ResultPromise | null = null;
const loads: ResultPromise[] = [];
const stopProc = async (p: ResultPromise | null) => {
  try {
    if (p?.pid !== undefined && p.exitCode === null) process.kill(p.pid, 'SIGTERM');
  } catch {
    /* already gone */
  }
  await p?.catch(() => undefined);
};
const cleanUp = async () => {
  for (const l of loads) await stopProc(l);
  await stopProc(daemon);
  for (const c of clients) await c.end().catch(() => undefined);
  for (const c of clusters) await c.destroy().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
};
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void cleanUp().then(() => process.exit(130)));

try {
  const diskBefore = await describeDisk(dir);
  console.log(diskBefore);
  console.log(`starting ${servers} clusters (pgbench -i -s 1 each) ...`);
  const password = 'bench-pw';
  clusters.push(
    ...(await inBatches(servers, 4, async () => {
      const c = await startPostgres({ password, settings: { shared_buffers: "'16MB'", max_connections: 20, max_wal_senders: 4 } });
      await c.exec('pgbench', ['-h', '127.0.0.1', '-p', String(c.port), '-U', 'postgres', '-i', '-s', '1', '-q', 'postgres'], { env: { PGPASSWORD: password } });
      return c;
    })),
  );
  const names = clusters.map((_, i) => `db${String(i + 1).padStart(2, '0')}`);

  const token = (await new FileTokenStore(join(dir, 'tokens.json')).create({ name: 'bench', projects: ['*'], tier: 'pro' })).token;
  const port = await freePort();
  writeFileSync(join(dir, 'pg.pass'), `${password}\n`, { mode: 0o600 });
  writeFileSync(
    join(dir, 'pitrd.yaml'),
    toYaml({
      storage: { type: 'fs', path: 'repo' },
      compression: 'none',
      spool_dir: 'spool',
      api: { listen: { host: '127.0.0.1', port }, tokens_file: 'tokens.json', rate_limit: { requests_per_minute: 100_000_000, burst: 100_000_000 } },
      databases: clusters.map((c, i) => ({
        name: names[i],
        project: 'bench',
        backup: { schedule: '0 3 1 1 *' },
        connection: { host: '127.0.0.1', port: c.port, user: 'postgres', password_file: 'pg.pass', dbname: 'postgres', sslmode: 'disable' },
      })),
    }),
  );
  const root = join(import.meta.dirname, '..');
  daemon = execa(process.execPath, ['--import', import.meta.resolve('tsx'), join(root, 'src/cli/main.ts'), 'serve', '-c', join(dir, 'pitrd.yaml')], {
    cwd: dir,
    reject: false,
    env: { PITRD_LOG_LEVEL: 'warn' },
    // BENCH_DAEMON_LOG: the daemon's stdout and stderr (its warnings) into that file.
    ...(process.env.BENCH_DAEMON_LOG ? { stdout: { file: process.env.BENCH_DAEMON_LOG, append: true }, stderr: { file: process.env.BENCH_DAEMON_LOG, append: true } } : {}),
  });
  const pid = daemon.pid!;
  const url = `http://127.0.0.1:${port}`;
  const headers = { authorization: `Bearer ${token}` };
  const status = async (name: string) => ((await (await fetch(`${url}/projects/bench/databases/${name}/pitr/receiver-status`, { headers })).json()) as { data: { status: string; bytes_received: number } }).data;
  for (const n of names) await until(`${n} streaming`, async () => (await status(n))?.status === 'running');
  for (const c of clusters) {
    const client = new pg.Client({ host: '127.0.0.1', port: c.port, user: 'postgres', password, database: 'postgres' });
    await client.connect();
    clients.push(client);
  }
  await sleep(5000);
  const idle = rssMB(pid);
  console.log(`daemon idle with ${servers} receivers streaming: RSS ${idle.toFixed(0)} MB (${(idle / servers).toFixed(1)} MB per server), ${threadsOf(pid)} OS threads; loadavg ${loadavg()}`);

  const before = await Promise.all(names.map(async (n) => (await status(n)).bytes_received));
  const cpu0 = cpuTicks(pid);
  const t0 = Date.now();
  for (const c of clusters) {
    loads.push(c.exec('pgbench', ['-h', '127.0.0.1', '-p', String(c.port), '-U', 'postgres', '-c', '1', '-R', String(rate), '-T', String(seconds), 'postgres'], { env: { PGPASSWORD: password }, reject: false }));
  }
  const lags: number[][] = clusters.map(() => []);
  const rss: number[] = [];
  while (Date.now() - t0 < seconds * 1000) {
    const tick = Date.now();
    rss.push(rssMB(pid));
    await Promise.all(
      clients.map(async (client, i) => {
        const r = await client.query<{ lag: number | null }>('SELECT EXTRACT(EPOCH FROM flush_lag)::float8 AS lag FROM pg_stat_replication');
        for (const row of r.rows) lags[i]!.push(row.lag ?? 0);
      }),
    );
    await sleep(Math.max(0, 1000 - (Date.now() - tick)));
  }
  for (const l of loads) await l;
  const secs = (Date.now() - t0) / 1000;
  const cpu = (cpuTicks(pid) - cpu0) / TICK;
  await sleep(2000);
  const after = await Promise.all(names.map(async (n) => (await status(n)).bytes_received));
  const bytes = after.reduce((s, b, i) => s + b - before[i]!, 0);
  const peak = Math.max(...rss);
  const mean = rss.reduce((a, b) => a + b, 0) / rss.length;

  console.log(`\n${servers} servers, pgbench -c 1 -R ${rate} each for ${seconds} s; one pitrd serve (fs repository, compression none); loadavg at end ${loadavg()}`);
  console.log(`daemon RSS: idle ${idle.toFixed(0)} MB, loaded mean ${mean.toFixed(0)} MB, peak ${peak.toFixed(0)} MB => per server idle ${(idle / servers).toFixed(1)} MB, peak ${(peak / servers).toFixed(1)} MB (target <= 25)`);
  console.log(`daemon CPU: ${cpu.toFixed(1)} s over ${secs.toFixed(0)} s for ${(bytes / 1e6).toFixed(0)} MB of WAL => ${(cpu / (bytes / 1e9)).toFixed(1)} s per GB (${((cpu / secs) * 100).toFixed(0)}% of one core)`);
  console.log('| server | flush lag p50 s | p99 s | max s | samples |');
  console.log('|---|---|---|---|---|');
  const p99s: number[] = [];
  lags.forEach((l, i) => {
    p99s.push(quantile(l, 0.99));
    console.log(`| ${names[i]} | ${quantile(l, 0.5).toFixed(3)} | ${quantile(l, 0.99).toFixed(3)} | ${Math.max(...l).toFixed(3)} | ${l.length} |`);
  });
  console.log(`flush lag p99: worst server ${Math.max(...p99s).toFixed(3)} s, median server ${quantile(p99s, 0.5).toFixed(3)} s (target <= 1 s each)`);
  console.log(diskBefore);
  console.log(await describeDisk(dir));
} finally {
  await cleanUp();
}
