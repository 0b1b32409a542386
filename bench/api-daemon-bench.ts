/**
 * The status endpoints of a real `pitrd serve` while its receiver streams WAL from a loaded
 * PostgreSQL 15: requests/s and p50/p99 latency of
 *   GET /, GET …/pitr/receiver-status, GET …/pitr/config, GET …/pitr/recovery-window, GET …/health
 *
 *   npx tsx bench/api-daemon-bench.ts [--connections 10] [--duration 10]
 *        [--loads idle,steady,saturating] [--rate 300] [--rounds 1]
 *
 * Loads (one phase each, same daemon and database):
 *   idle        no pgbench: the receiver is connected but has (almost) nothing to stream
 *   steady      `pgbench -c 4 -R <rate>`: a stated, steady transaction (hence WAL) rate
 *   saturating  `pgbench -c 4` unbounded: both cores busy with PostgreSQL
 * The WAL rate the receiver actually streamed in each phase is printed (from receiver-status).
 *
 * The daemon is the CLI in its own process (as users run it). The load generator (autocannon) runs
 * in a separate process too (this file with --client), so its CPU is accounted apart: each row
 * shows the CPU seconds per second of the daemon's main thread, its other threads, autocannon,
 * PostgreSQL (all its processes) and pgbench, and the whole machine's busy share.
 * Beside the HTTP latency each row shows the daemon's own event-loop delay (p99 and max over the
 * run, from its /metrics) and event-loop busy share: a high HTTP p99 with a low event-loop delay
 * is time spent outside the daemon's main thread (waiting for a CPU, the client), a high
 * event-loop delay is the daemon blocking itself.
 * Rate limits are raised out of the way in the config (the bench measures the work, not the
 * limiter). A base backup is taken first so the recovery window is a real one.
 */
import { readFileSync, readdirSync, writeFileSync, rmSync } from 'node:fs';
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
function argStr(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? String(process.argv[i + 1]) : dflt;
}

interface ClientResult {
  total: number;
  duration: number;
  p50: number;
  p99: number;
  max: number;
  non2xx: number;
  errors: number;
  cpuSeconds: number;
}

// --- client mode: autocannon in its own process, result as one JSON line on stdout ---
if (process.argv.includes('--client')) {
  const url = argStr('url', '');
  const headers = JSON.parse(argStr('headers', '{}')) as Record<string, string>;
  const connections = arg('connections', 10);
  const cpu0 = process.cpuUsage();
  await autocannon({ url, connections, amount: 1000, headers }); // warm-up
  const cpu1 = process.cpuUsage(cpu0);
  const r = await autocannon({ url, connections, duration: arg('duration', 10), headers });
  const cpu = process.cpuUsage(cpu0);
  const out: ClientResult = {
    total: r.requests.total,
    duration: r.duration,
    p50: r.latency.p50,
    p99: r.latency.p99,
    max: r.latency.max,
    non2xx: r.non2xx,
    errors: r.errors,
    cpuSeconds: (cpu.user + cpu.system - cpu1.user - cpu1.system) / 1e6,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
  process.exit(0);
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

// --- CPU accounting from /proc (clock ticks of 10 ms) ---
const TICK = 100;
function statTicks(path: string): number {
  try {
    const s = readFileSync(path, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]); // utime + stime
  } catch {
    return 0;
  }
}
function ppidOf(pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return -1;
  }
}
/** The process and its direct children (postmaster + backends, walsender, …). */
function treeTicks(pid: number): number {
  let t = statTicks(`/proc/${pid}/stat`);
  for (const d of readdirSync('/proc')) {
    const p = Number(d);
    if (Number.isInteger(p) && p !== pid && ppidOf(p) === pid) t += statTicks(`/proc/${p}/stat`);
  }
  return t;
}
function machineTicks(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  return { busy: total - idle, total };
}
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').trim().split(' ').slice(0, 3).join(' ');

/** pitrd_event_loop_* from a /metrics text. */
function eventLoop(text: string): { p99: number; max: number; busy: number } {
  const val = (re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);
  return {
    p99: val(/^pitrd_event_loop_delay_seconds\{quantile="0\.99"\} (\S+)$/m),
    max: val(/^pitrd_event_loop_delay_max_seconds (\S+)$/m),
    busy: val(/^pitrd_event_loop_busy_seconds_total (\S+)$/m),
  };
}

const connections = arg('connections', 10);
const duration = arg('duration', 10);
const rate = arg('rate', 300);
const rounds = arg('rounds', 1);
// The daemon reports event-loop quantiles over its last 10 s: shorter runs would include the gap before.
if (duration < 10) console.warn(`--duration ${duration} < 10: the event-loop figures also cover the seconds before each run`);
/**
 * own: the daemon in its own session (setsid), as a service manager starts it (systemd: one
 * session per service), so Linux's autogroup scheduling gives it its own share of the CPUs rather
 * than one shared with this bench, pgbench and autocannon. shared: in this process's session.
 */
const session = argStr('daemon-session', 'shared');
if (session !== 'own' && session !== 'shared') throw new Error('--daemon-session: own or shared');
const loads = argStr('loads', 'idle,steady,saturating').split(',');
for (const l of loads) if (!['idle', 'steady', 'saturating'].includes(l)) throw new Error(`--loads: unknown load ${l}`);
const root = join(import.meta.dirname, '..');
const self = import.meta.filename;
const pg = await startPostgres({ password: 'bench-pw' });
const dir = makeTempDir('pitrd-api-bench');
let daemon: ResultPromise | null = null;
let load: ResultPromise | null = null;
const stop = async (p: ResultPromise | null) => {
  try {
    if (p?.pid !== undefined && p.exitCode === null) process.kill(p.pid, 'SIGTERM');
  } catch {
    /* already gone */
  }
  await p?.catch(() => undefined);
};
// Interrupted (Ctrl-C, kill by PID): still stop what was started and remove the temp files.
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    void (async () => {
      await stop(load);
      await stop(daemon);
      await pg.destroy();
      rmSync(dir, { recursive: true, force: true });
      process.exit(130);
    })();
  });
}
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
  // e.g. PITRD_BENCH_DAEMON_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" (not allowed in NODE_OPTIONS)
  const nodeArgs = (process.env.PITRD_BENCH_DAEMON_NODE_ARGS ?? '').split(' ').filter(Boolean);
  daemon = execa(process.execPath, [...nodeArgs, '--import', import.meta.resolve('tsx'), join(root, 'src/cli/main.ts'), 'serve', '-c', join(dir, 'pitrd.yaml')], {
    cwd: dir,
    reject: false,
    detached: session === 'own',
    env: { PITRD_LOG_LEVEL: 'warn' },
  });
  const daemonPid = daemon.pid!;
  const url = `http://127.0.0.1:${port}`;
  const headers = { authorization: `Bearer ${token}` };
  const get = async (path: string) => (await (await fetch(`${url}${path}`, { headers })).json()) as { data: any };
  const metrics = async () => eventLoop(await (await fetch(`${url}/metrics`, { headers })).text());
  const base = '/projects/bench/databases/main';
  await until('receiver streaming', async () => (await get(`${base}/pitr/receiver-status`)).data?.status === 'running');

  await pg.exec('pgbench', ['-h', '127.0.0.1', '-p', String(pg.port), '-U', 'postgres', '-i', '-s', '10', '-q', 'postgres'], { env: { PGPASSWORD: 'bench-pw' } });
  const backup = (await (await fetch(`${url}${base}/backups`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: '{}' })).json()) as { data: { id: string } };
  await until('base backup completed', async () => (await get(`${base}/backups/${backup.data.id}`)).data?.status === 'completed', 300_000);
  await until('recovery window', async () => (await get(`${base}/pitr/recovery-window`)).data?.status === 'ok');
  const postmaster = Number(readFileSync(join(pg.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const paths = ['/', `${base}/pitr/receiver-status`, `${base}/pitr/config`, `${base}/pitr/recovery-window`, `${base}/health`];

  console.log(`api-daemon-bench: ${connections} connections, ${duration} s per endpoint, daemon in ${session === 'own' ? 'its own session' : "the bench's session"}, autogroup scheduling ${readFileSync('/proc/sys/kernel/sched_autogroup_enabled', 'utf8').trim() === '1' ? 'on' : 'off'}, loads ${loads.join(',')} (steady: pgbench -c 4 -j 2 -R ${rate}), ${rounds} round(s); CPU figures are CPU-seconds per second (2 cores = 2.0)`);
  for (let round = 1; round <= rounds; round++) {
    for (const phase of loads) {
      if (phase !== 'idle') {
        const pgbench = ['-h', '127.0.0.1', '-p', String(pg.port), '-U', 'postgres', '-c', '4', '-j', '2', '-T', String((duration + 5) * paths.length + 30), ...(phase === 'steady' ? ['-R', String(rate)] : []), 'postgres'];
        load = pg.exec('pgbench', pgbench, { env: { PGPASSWORD: 'bench-pw' }, reject: false });
        await new Promise((r) => setTimeout(r, 3000)); // let the WAL rate settle
      }
      const before = (await get(`${base}/pitr/receiver-status`)).data;
      const t0 = Date.now();
      const la0 = loadavg();
      const rows: string[] = [];
      for (const path of paths) {
        const h = path === '/' ? {} : headers;
        const m0 = await metrics();
        const d0 = { main: statTicks(`/proc/${daemonPid}/task/${daemonPid}/stat`), all: statTicks(`/proc/${daemonPid}/stat`), pg: treeTicks(postmaster), load: load?.pid ? statTicks(`/proc/${load.pid}/stat`) : 0, machine: machineTicks() };
        const w0 = Date.now();
        // Started here so the CPU window is this run's (its warm-up of 1,000 requests included).
        const c = await execa(process.execPath, ['--import', import.meta.resolve('tsx'), self, '--client', '--url', `${url}${path}`, '--headers', JSON.stringify(h), '--connections', String(connections), '--duration', String(duration)]);
        const secs = (Date.now() - w0) / 1000;
        const d1 = { main: statTicks(`/proc/${daemonPid}/task/${daemonPid}/stat`), all: statTicks(`/proc/${daemonPid}/stat`), pg: treeTicks(postmaster), load: load?.pid ? statTicks(`/proc/${load.pid}/stat`) : 0, machine: machineTicks() };
        const m1 = await metrics();
        const r = JSON.parse(c.stdout.trim().split('\n').pop()!) as ClientResult;
        if (r.non2xx > 0 || r.errors > 0) throw new Error(`GET ${path}: ${r.non2xx} non-2xx, ${r.errors} errors`);
        const cpu = (a: number, b: number) => ((b - a) / TICK / secs).toFixed(2);
        const machine = (d1.machine.busy - d0.machine.busy) / (d1.machine.total - d0.machine.total);
        rows.push(
          `  GET ${path.replace(base, '…').padEnd(24)} ${String(Math.round(r.total / r.duration)).padStart(6)} req/s  p50 ${String(r.p50).padStart(2)} ms  p99 ${String(r.p99).padStart(3)} ms  max ${String(r.max).padStart(4)} ms` +
            ` | event loop p99 ${(m1.p99 * 1000).toFixed(1).padStart(5)} ms  max ${(m1.max * 1000).toFixed(1).padStart(5)} ms  busy ${(((m1.busy - m0.busy) / secs) * 100).toFixed(0).padStart(3)}%` +
            ` | cpu daemon main ${cpu(d0.main, d1.main)} other ${cpu(d0.all - d0.main, d1.all - d1.main)}  autocannon ${(r.cpuSeconds / r.duration).toFixed(2)}  postgres ${cpu(d0.pg, d1.pg)}  pgbench ${cpu(d0.load, d1.load)}  machine ${(machine * 100).toFixed(0)}%`,
        );
      }
      const after = (await get(`${base}/pitr/receiver-status`)).data;
      const secs = (Date.now() - t0) / 1000;
      const mb = (after.bytes_received - before.bytes_received) / 1e6;
      console.log(`round ${round}, load ${phase === 'steady' ? `steady (pgbench -c 4 -R ${rate})` : phase === 'saturating' ? 'saturating (pgbench -c 4, unbounded)' : 'idle (no pgbench)'}:`);
      console.log(rows.join('\n'));
      console.log(
        `  receiver: ${(mb / secs).toFixed(2)} MB/s of WAL streamed (${mb.toFixed(0)} MB in ${secs.toFixed(0)} s), ${after.segments_archived - before.segments_archived} segments archived, status ${after.status}, lag ${after.lag_seconds} s; loadavg ${la0} -> ${loadavg()}`,
      );
      await stop(load);
      load = null;
    }
  }
} finally {
  await stop(load);
  await stop(daemon);
  await pg.destroy();
  rmSync(dir, { recursive: true, force: true });
}
