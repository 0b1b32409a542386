/**
 * Receiver benchmark (not a test). Run:
 *   npx tsc -p tsconfig.build.json && BENCH_WAL_MB=1024 npx tsx bench/receiver-bench.ts
 * Options: BENCH_RUNS (pairs, default 3), BENCH_HOLD_UPLOADS=1, BENCH_REPO_DIR, BENCH_PGBENCH_SECONDS, BENCH_SETTLE_S,
 * BENCH_DIST, BENCH_BASELINE_DIST, BENCH_NODE_FLAGS (default "--max-old-space-size=128 --max-semi-space-size=2"),
 * BENCH_PERF_DIR (a `perf record` profile of each pitrd child and of each pg_receivewal into that
 * directory; add --perf-basic-prof to BENCH_NODE_FLAGS for JS names; the kernel part of
 * pg_receivewal's needs perf_event_paranoid <= 1, as it runs as the postgres user).
 *
 * The receiver runs the way a user runs it: in its own process, on the built JS (`node`, no
 * tsx), so its RSS (/proc/<pid>/status VmRSS, VmHWM) and CPU (/proc/<pid>/stat) are its own and
 * not the harness's.
 *
 * 1. Ingest: ~BENCH_WAL_MB of WAL (16 MiB segments) is generated while 2×BENCH_RUNS (3× with a
 *    baseline) physical slots hold it; then pg_receivewal (A) and pitrd (B) catch up from their
 *    own slot to the same end LSN, alternated A B, B A, A B… in this one invocation (the
 *    server's WAL is read once beforehand, so neither tool pays for a cold page cache). Both are
 *    timed from process spawn:
 *    pg_receivewal to its exit (-E endpos), pitrd to its first status with the flush position
 *    (what it confirms to the server) at the end LSN, and on to "archived in the fs repository".
 *    The median of the per-pair ratios is reported, and the CPU time each tool used (pg_receivewal's
 *    from the shell's `times`, pitrd's from process.cpuUsage at the flushed event): CPU per GB is
 *    far less noisy than wall time on a shared machine (each line also gives the system part, and
 *    pitrd's bytes written from /proc/self/io). pitrd's CPU is also given from "node loaded" on
 *    (a daemon starts node once; its start, ~0.3-0.5 s of CPU, is not a per-GB cost), and it
 *    includes the uploads that run meanwhile (BENCH_HOLD_UPLOADS=1: the replication path alone).
 *    The child's own polling is kept light (flush position every 50 ms, status once a second). With BENCH_BASELINE_DIST (another build of
 *    src/, e.g. the previous commit's), that build runs as a third contestant in every round.
 * 2. Flush lag under `pgbench -c 8`: pg_stat_replication.flush_lag of a pitrd child, sampled
 *    every 100 ms, p50/p99, after a `sync` (the GBs the ingest runs left dirty in the page cache
 *    would otherwise be written back under it and stall every fsync on the disk).
 *
 * `--major N` (13 to 18, default 15): the source server is PostgreSQL N (test/harness/pg-bins.ts).
 * pg_receivewal 15 cannot stream from a newer server, so for N ≠ 15 the reference is pitrd itself
 * on a PostgreSQL 15 source that got the same workload (the same WAL volume, within a segment):
 * each round runs pitrd on 15 and pitrd on N, alternated, and the figure is the median ratio of
 * their ingest throughputs (MB/s on N / MB/s on 15: 0.90 or more is "within 10% of 15"), with CPU
 * per GB for each. The flush-lag part then runs on N.
 */
import { execa, type ResultPromise } from 'execa';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseLsn } from '../src/wal/lsn.js';
import { PG_BIN, TEST_MAJORS, asPostgres, makeTempDir, startPostgres, type PgCluster, type TestMajor } from '../test/harness/index.js';
import { switchWal, waitFor } from '../test/harness/receiver.js';

const WAL_MB = Number(process.env.BENCH_WAL_MB ?? 1024);
/** `--major N`: the source's PostgreSQL major (default 15, the one pg_receivewal 15 streams from). */
const MAJOR = ((): TestMajor => {
  const i = process.argv.indexOf('--major');
  const m = i < 0 ? 15 : Number(process.argv[i + 1]);
  if (!(TEST_MAJORS as readonly number[]).includes(m)) throw new Error(`--major: expected one of ${TEST_MAJORS.join(', ')}, got "${process.argv[i + 1] ?? ''}"`);
  return m as TestMajor;
})();
// Diagnostic: a pause after the `sync` before each contestant (both tools alike). On a VM that
// hands freed guest memory back to its host (virtio-balloon free page reporting, ~2 s after the
// free) a run that writes into such memory pays for faulting it back in; with a pause every run
// does, instead of only those that start long after the previous run's files were removed.
const SETTLE_MS = Number(process.env.BENCH_SETTLE_S ?? 0) * 1000;
const settle = () => new Promise((r) => setTimeout(r, SETTLE_MS));
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const NODE_FLAGS = (process.env.BENCH_NODE_FLAGS ?? '--max-old-space-size=128 --max-semi-space-size=2').split(/\s+/).filter(Boolean);
const MB = 1024 * 1024;
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
// BENCH_DIST: another build of src/ (e.g. the previous commit's) to compare against.
const DIST = process.env.BENCH_DIST ?? join(ROOT, 'dist');
const BASELINE_DIST = process.env.BENCH_BASELINE_DIST;

/**
 * The child: plain ESM on dist/. It prints one JSON line when the flush position reaches
 * `target`, one when the upload position does, and its status every 100 ms.
 */
const childSource = (dist: string) => `
import { readFileSync } from 'node:fs';
import { createReceiver } from ${JSON.stringify(pathToFileURL(join(dist, 'receiver/index.js')).href)};
import { openRepository } from ${JSON.stringify(pathToFileURL(join(dist, 'repository/index.js')).href)};
import { createObjectStore } from ${JSON.stringify(pathToFileURL(join(dist, 'storage/index.js')).href)};
const cfg = JSON.parse(process.env.PITRD_BENCH_CHILD);
const store = createObjectStore({ type: 'fs', path: cfg.repoDir });
const repo = await openRepository(store, { compression: 'none' });
const db = repo.database({ project: 'default', name: cfg.database });
// holdUploads: the uploader waits until the end LSN is flushed (replication path alone).
let release = () => undefined;
const released = new Promise((r) => (release = r));
if (!cfg.holdUploads) release();
const wal = Object.assign(Object.create(db.wal), {
  putSegment: async (t, n, d) => { await released; return db.wal.putSegment(t, n, d); },
  ...(db.wal.putSegmentFile ? { putSegmentFile: async (t, n, f) => { await released; return db.wal.putSegmentFile(t, n, f); } } : {}),
});
const receiver = createReceiver({
  database: cfg.database,
  connection: cfg.connection,
  repository: { wal, info: () => db.info(), saveInfo: (i) => db.saveInfo(i) },
  spoolDir: cfg.spoolDir,
  slotName: cfg.slotName,
  // statusIntervalMs: pitrd serve's default (10 s); the flush position is reported after each fsync anyway.
  // Warnings and errors to stderr: the harness shows them when a run fails or stalls.
  logger: { debug() {}, info() {}, warn: (o, m) => process.stderr.write(JSON.stringify({ level: 'warn', msg: m, ...o }) + '\\n'), error: (o, m) => process.stderr.write(JSON.stringify({ level: 'error', msg: m, ...o }) + '\\n') },
});
const target = cfg.target === null ? null : BigInt(cfg.target);
const lsn = (s) => { if (s === null) return -1n; const [h, l] = s.split('/'); return (BigInt('0x' + h) << 32n) | BigInt('0x' + l); };
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
const sys = () => process.cpuUsage().system / 1e6;
// Bytes this process passed to write(2) and caused to be written to storage, in MB.
const io = () => { try { const t = readFileSync('/proc/self/io', 'utf8'); const f = (k) => Math.round(Number(new RegExp('^' + k + ': ([0-9]+)', 'm').exec(t)?.[1] ?? 'NaN') / 1048576); return { wchar: f('wchar'), write_bytes: f('write_bytes') }; } catch { return null; } };
let flushedSent = false, uploadedSent = false;
const emit = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
emit({ event: 'loaded', cpu: cpu() });
await receiver.start();
// The harness's own work in this process is kept small, since its CPU counts as pitrd's: the
// flush position is read every 50 ms (a field read: status() formats a few LSNs), the status and
// memory figures are printed once a second (pitrd serve's own status push runs every 100 ms).
setInterval(() => {
  const st = receiver.status();
  if (target !== null && !flushedSent && lsn(st.last_flushed_lsn) >= target) { flushedSent = true; release(); emit({ event: 'flushed', cpu: cpu(), sys: sys(), io: io() }); }
  if (target !== null && !uploadedSent && lsn(st.last_uploaded_lsn) >= target) { uploadedSent = true; emit({ event: 'uploaded', cpu: cpu(), io: io() }); }
}, 50);
const mem = { heapTotal: 0, external: 0, arrayBuffers: 0 };
setInterval(() => {
  const m = process.memoryUsage();
  mem.heapTotal = Math.max(mem.heapTotal, m.heapTotal); mem.external = Math.max(mem.external, m.external); mem.arrayBuffers = Math.max(mem.arrayBuffers, m.arrayBuffers);
  emit({ event: 'status', status: receiver.status(), mem });
}, 1000);
process.once('SIGTERM', async () => { await receiver.stop(); await store.close(); process.exit(0); });
`;

interface ChildEvent {
  event: string;
  cpu?: number;
  /** System (kernel) part of cpu. */
  sys?: number;
  /** MB passed to write(2) / written to storage by the process so far. */
  io?: { wchar: number; write_bytes: number } | null;
  status?: { status: string; last_flushed_lsn: string | null; last_error: unknown };
  mem?: { heapTotal: number; external: number; arrayBuffers: number };
}

interface PitrdChild {
  pid: number;
  /** ms after spawn at which each event first arrived, with its payload. */
  seen: Map<string, { at: number; ev: ChildEvent }>;
  rss: { peakKb: number; samples: number };
  hwmKb(): number;
  stop(): Promise<void>;
  stderr(): string;
  /** Settles when the child process exits (with its exit code, or the signal's name). */
  exited: Promise<string>;
}

function readStatusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function spawnPitrd(cfg: object, dist = DIST): PitrdChild {
  const t0 = performance.now();
  const proc: ResultPromise = execa(process.execPath, [...NODE_FLAGS, '--input-type=module', '-e', childSource(dist)], {
    env: { ...process.env, PITRD_BENCH_CHILD: JSON.stringify(cfg) },
    reject: false,
    buffer: false,
  });
  const pid = proc.pid!;
  // BENCH_PERF_DIR: a CPU profile of the child (`perf report -i DIR/pitrd-PID.data`; JIT frames
  // are named with --perf-basic-prof in BENCH_NODE_FLAGS).
  const perf = process.env.BENCH_PERF_DIR ? execa('perf', ['record', '-F', '999', '-g', '-p', String(pid), '-o', join(process.env.BENCH_PERF_DIR, `pitrd-${pid}.data`)], { reject: false }) : null;
  const seen = new Map<string, { at: number; ev: ChildEvent }>();
  const rss = { peakKb: 0, samples: 0 };
  let hwm = 0;
  const sampler = setInterval(() => {
    const kb = readStatusKb(pid, 'VmRSS');
    if (kb > 0) {
      rss.peakKb = Math.max(rss.peakKb, kb);
      rss.samples++;
      hwm = Math.max(hwm, readStatusKb(pid, 'VmHWM'));
    }
  }, 50);
  let tail = '';
  let errText = '';
  proc.stdout!.on('data', (b: Buffer) => {
    const at = performance.now() - t0;
    tail += b.toString('utf8');
    const lines = tail.split('\n');
    tail = lines.pop() ?? '';
    for (const l of lines) {
      if (!l.startsWith('{')) continue;
      const ev = JSON.parse(l) as ChildEvent;
      if (!seen.has(ev.event) || ev.event === 'status') seen.set(ev.event, { at, ev });
    }
  });
  proc.stderr!.on('data', (b: Buffer) => {
    errText = (errText + b.toString('utf8')).slice(-10_000);
  });
  const exited = proc.then(async (r) => {
    clearInterval(sampler);
    await perf;
    return String(r.exitCode ?? r.signal);
  });
  return {
    pid,
    seen,
    rss,
    hwmKb: () => Math.max(hwm, readStatusKb(pid, 'VmHWM')),
    async stop() {
      hwm = Math.max(hwm, readStatusKb(pid, 'VmHWM'));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
    stderr: () => errText,
    exited,
  };
}

function pct(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}
const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

function ensureBuilt(): void {
  const built = join(DIST, 'receiver/segment-writer.js');
  if (!existsSync(built)) throw new Error(`${built} is missing: run \`npx tsc -p tsconfig.build.json\` first`);
  const src = join(ROOT, 'src/receiver/segment-writer.ts');
  if (statSync(src).mtimeMs > statSync(built).mtimeMs) throw new Error(`dist/ is older than src/receiver: run \`npx tsc -p tsconfig.build.json\` first`);
}

interface Source {
  cluster: PgCluster;
  endpos: string;
  walBytes: number;
}

/** A cluster of `major` whose `slots` hold ~WAL_MB of fresh WAL, read once into the page cache. */
async function prepareSource(major: TestMajor, slots: string[]): Promise<Source> {
  const cluster = await startPostgres({
    major,
    settings: { max_wal_size: "'8GB'", checkpoint_timeout: "'30min'", shared_buffers: "'128MB'", max_replication_slots: 3 * RUNS + 4, max_wal_senders: 10 },
  });
  for (const s of slots) await cluster.query('SELECT pg_create_physical_replication_slot($1, true)', [s]);
  const [{ start } = { start: '' }] = await cluster.query<{ start: string }>('SELECT pg_current_wal_lsn()::text AS start');
  await cluster.query('CREATE TABLE big (id bigint, pad text)');
  console.log(`PostgreSQL ${major}: generating ~${WAL_MB} MB of WAL…`);
  for (;;) {
    await cluster.query("INSERT INTO big SELECT g, repeat(md5(g::text), 8) FROM generate_series(1, 500000) g");
    const [row] = await cluster.query<{ d: string }>('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1)::bigint::text AS d', [start]);
    if (Number(row!.d) >= WAL_MB * MB) break;
  }
  const { lsn: endpos } = await switchWal(cluster);
  await cluster.query('CHECKPOINT');
  // Read the server's WAL once, so the first run does not pay for a cold page cache.
  await execa('sh', ['-c', `cat "${cluster.dataDir}"/pg_wal/0* > /dev/null`]);
  return { cluster, endpos, walBytes: Number(parseLsn(endpos) - parseLsn(start)) };
}

async function main(): Promise<void> {
  if (!process.env.BENCH_DIST) ensureBuilt();
  // Against pg_receivewal on 15; on another major against pitrd on 15 (see the header).
  const refIsPitrd = MAJOR !== 15;
  const slotNames = (prefix: string) => Array.from({ length: RUNS }, (_, i) => `${prefix}${i}`);
  const sources: Source[] = [];
  const dirs: string[] = [];
  const tmp = (t: string) => {
    const d = makeTempDir(t);
    dirs.push(d);
    return d;
  };
  const children: PitrdChild[] = [];
  try {
    const subject = await prepareSource(MAJOR, [...slotNames('pitrd_bench'), ...(BASELINE_DIST ? slotNames('pitrd_base') : []), ...(refIsPitrd ? [] : slotNames('bench_ref'))]);
    sources.push(subject);
    const ref = refIsPitrd ? await prepareSource(15, slotNames('pitrd_ref')) : subject;
    if (ref !== subject) sources.push(ref);
    const { cluster, endpos, walBytes } = subject;
    console.log(`WAL to ingest: ${(walBytes / MB).toFixed(0)} MB on PostgreSQL ${MAJOR}, end LSN ${endpos}${refIsPitrd ? `; reference: pitrd on PostgreSQL 15, ${(ref.walBytes / MB).toFixed(0)} MB, end LSN ${ref.endpos}` : ''}, ${RUNS} alternated pairs`);

    const runRef = async (slot: string): Promise<{ s: number; cpu: number; sys: number }> => {
      const dir = tmp('ref');
      await execa('sync');
      await settle();
      const t0 = performance.now();
      // Through a shell for its `times` (user and system CPU of its children): pg_receivewal's CPU.
      const res = await execa(
        'sh',
        ['-c', `${process.env.BENCH_PERF_DIR ? `perf record -F 999 -g -o "${join(process.env.BENCH_PERF_DIR, `ref-${slot}.data`)}" -- ` : ''}"${join(PG_BIN, 'pg_receivewal')}" -D "${dir}" -h 127.0.0.1 -p ${cluster.port} -U postgres -S ${slot} -E ${endpos} --no-loop --no-password && times`],
        asPostgres({ env: { ...process.env, PGPASSWORD: cluster.connection.password } }),
      );
      const s = (performance.now() - t0) / 1000;
      rmSync(dir, { recursive: true, force: true });
      const secs = (String(res.stdout).trim().split('\n').pop() ?? '')
        .split(/\s+/)
        .map((t) => /^(\d+)m([\d.]+)s$/.exec(t))
        .map((m) => (m ? Number(m[1]) * 60 + Number(m[2]) : 0));
      return { s, cpu: secs.reduce((a, b) => a + b, 0), sys: secs[1] ?? NaN };
    };

    interface PitrdRun { flush: number; archive: number; loaded: number; cpuLoaded: number; cpuFlush: number; sysFlush: number; cpuArchive: number; rssPeakMb: number; hwmMb: number }
    const runPitrd = async (slot: string, dist = DIST, src: Source = subject): Promise<PitrdRun> => {
      const spoolDir = tmp('spool');
      // BENCH_REPO_DIR=/dev/shm keeps the repository off the spool's disk (as S3 would be).
      const repoDir = process.env.BENCH_REPO_DIR ? mkdtempSync(join(process.env.BENCH_REPO_DIR, 'pitrd-bench-repo-')) : tmp('repo');
      dirs.push(repoDir);
      await execa('sync');
      await settle();
      const child = spawnPitrd({
        database: 'bench',
        connection: { ...src.cluster.connection, applicationName: slot },
        spoolDir,
        repoDir,
        slotName: slot,
        target: String(parseLsn(src.endpos)),
        holdUploads: Boolean(process.env.BENCH_HOLD_UPLOADS),
      }, dist);
      children.push(child);
      try {
        // A child that dies (a startup error, a crash) fails the run at once instead of after the timeout.
        const died = child.exited.then((how) => {
          throw new Error(`the pitrd child exited (${how}) before archiving to the end LSN`);
        });
        await Promise.race([waitFor('pitrd archived to the end LSN', () => child.seen.get('uploaded'), 900_000, 20), died]).catch((err: unknown) => {
          throw new Error(`${String(err)}\nchild stderr: ${child.stderr()}\nlast status: ${JSON.stringify(child.seen.get('status')?.ev.status)}`);
        });
        died.catch(() => undefined);
        const f = child.seen.get('flushed')!;
        const u = child.seen.get('uploaded')!;
        const l = child.seen.get('loaded')!;
        const mem = child.seen.get('status')?.ev.mem;
        console.log(`  pitrd I/O (MB) at flushed ${JSON.stringify(f.ev.io)}, at archived ${JSON.stringify(u.ev.io)}`);
        if (mem) console.log(`  pitrd peak V8 heapTotal ${(mem.heapTotal / MB).toFixed(0)} MB, external ${(mem.external / MB).toFixed(0)} MB (arrayBuffers ${(mem.arrayBuffers / MB).toFixed(0)} MB)`);
        await child.stop();
        return {
          flush: f.at / 1000,
          archive: u.at / 1000,
          loaded: l.at / 1000,
          cpuLoaded: l.ev.cpu!,
          cpuFlush: f.ev.cpu!,
          sysFlush: f.ev.sys ?? NaN,
          cpuArchive: u.ev.cpu!,
          rssPeakMb: child.rss.peakKb / 1024,
          hwmMb: child.hwmKb() / 1024,
        };
      } finally {
        await child.stop();
        rmSync(spoolDir, { recursive: true, force: true });
        rmSync(repoDir, { recursive: true, force: true });
      }
    };

    const refs: number[] = [];
    const refCpu: number[] = [];
    const refSys: number[] = [];
    const ours: PitrdRun[] = [];
    /** pitrd's runs on 15 when it is the reference (`--major` ≠ 15). */
    const refRuns: PitrdRun[] = [];
    const base: PitrdRun[] = [];
    const loads: string[] = [];
    const describe = (name: string, r: PitrdRun, a: number) =>
      `${name} flushed ${r.flush.toFixed(2)} s (${(a / r.flush).toFixed(2)}x), archived ${r.archive.toFixed(2)} s (${(a / r.archive).toFixed(2)}x), node loaded at ${r.loaded.toFixed(2)} s, CPU ${r.cpuFlush.toFixed(2)} (sys ${r.sysFlush.toFixed(2)})/${r.cpuArchive.toFixed(2)} s, RSS peak ${r.rssPeakMb.toFixed(0)} MB, VmHWM ${r.hwmMb.toFixed(0)} MB`;
    for (let i = 0; i < RUNS; i++) {
      // Alternate who goes first, so neither tool always runs right after the other's disk writes.
      const order: Array<'ref' | 'pitrd' | 'base'> = ['ref', 'pitrd', ...(BASELINE_DIST ? (['base'] as const) : [])];
      if (i % 2 === 1) order.reverse();
      let a = 0;
      let b: PitrdRun | null = null;
      let c: PitrdRun | null = null;
      for (const who of order) {
        if (who === 'ref' && refIsPitrd) {
          const r = await runPitrd(`pitrd_ref${i}`, DIST, ref);
          // Scaled to this major's WAL volume: the ratios compare throughputs.
          a = r.flush * (walBytes / ref.walBytes);
          refRuns.push(r);
          refCpu.push(r.cpuFlush * (walBytes / ref.walBytes));
          refSys.push(r.sysFlush * (walBytes / ref.walBytes));
        } else if (who === 'ref') {
          const r = await runRef(`bench_ref${i}`);
          a = r.s;
          refCpu.push(r.cpu);
          refSys.push(r.sys);
        } else if (who === 'pitrd') b = await runPitrd(`pitrd_bench${i}`);
        else c = await runPitrd(`pitrd_base${i}`, BASELINE_DIST);
      }
      refs.push(a);
      ours.push(b!);
      if (c) base.push(c);
      loads.push(readFileSync('/proc/loadavg', 'utf8').trim());
      const refName = refIsPitrd ? 'pitrd on 15 (scaled to the same WAL volume)' : 'pg_receivewal';
      console.log(`pair ${i + 1}: ${refName} ${a.toFixed(2)} s, CPU ${refCpu[i]!.toFixed(2)} (sys ${refSys[i]!.toFixed(2)}) s | ${describe('pitrd', b!, a)}${c ? ` | ${describe('baseline', c, a)}` : ''} | loadavg ${loads[i]}`);
    }

    // Flush lag under pgbench -c 8, with a fresh pitrd child that follows the server live
    // (BENCH_PGBENCH_SECONDS=0: skipped).
    const lagSeconds = Number(process.env.BENCH_PGBENCH_SECONDS ?? 20);
    const lag = lagSeconds > 0 ? await flushLag() : null;
    async function flushLag() {
      const bench = (args: string[]) => cluster.exec('pgbench', ['-h', '127.0.0.1', '-p', String(cluster.port), '-U', 'postgres', ...args, 'postgres']);
      await bench(['-i', '-s', '10', '-q']);
      await execa('sync');
      await cluster.query('SELECT pg_create_physical_replication_slot($1, true)', ['pitrd_lag']);
      const lagRepo = process.env.BENCH_REPO_DIR ? mkdtempSync(join(process.env.BENCH_REPO_DIR, 'pitrd-bench-repo-')) : tmp('repo');
      dirs.push(lagRepo);
      const lagChild = spawnPitrd({ database: 'benchlag', connection: { ...cluster.connection, applicationName: 'pitrd_lag' }, spoolDir: tmp('spool'), repoDir: lagRepo, slotName: 'pitrd_lag', target: null, holdUploads: false });
      children.push(lagChild);
      await waitFor('pitrd lag child streaming', () => lagChild.seen.get('status')?.ev.status?.status === 'running', 60_000, 50);
      const lags: number[] = [];
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const [row] = await cluster.query<{ lag: number | null }>("SELECT extract(epoch FROM flush_lag)::float8 AS lag FROM pg_stat_replication WHERE application_name = 'pitrd_lag'");
          if (row && row.lag !== null) lags.push(row.lag);
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      const pgb = await bench(['-c', '8', '-j', '2', '-T', String(lagSeconds)]);
      sampling = false;
      await sampler;
      const tps = /tps = ([\d.]+)/.exec(String(pgb.stdout))?.[1];
      const lagRss = lagChild.rss.peakKb / 1024;
      const lagHwm = lagChild.hwmKb() / 1024;
      await lagChild.stop();
      return { tps, lags, lagRss, lagHwm };
    }

    const f2 = (n: number) => n.toFixed(2);
    const gb = walBytes / (1024 * MB);
    const refLabel = refIsPitrd ? 'pitrd@15' : 'pg_receivewal';
    const summary = (name: string, runs: PitrdRun[]) => {
      const flushRatios = runs.map((o, i) => refs[i]! / o.flush);
      const sustainedRatios = runs.map((o, i) => refs[i]! / (o.flush - o.loaded));
      const archiveRatios = runs.map((o, i) => refs[i]! / o.archive);
      const cpuRatios = runs.map((o, i) => refCpu[i]! / o.cpuFlush);
      // pitrd serve starts node once, not per GB: its CPU from "node loaded" on against pg_receivewal's whole run.
      const cpuLoadedRatios = runs.map((o, i) => (o.cpuFlush - o.cpuLoaded) / refCpu[i]!);
      console.log(`${name} to flushed (spawn):   median ${f2(median(runs.map((o) => o.flush)))} s; runs ${runs.map((o) => f2(o.flush)).join(', ')}`);
      console.log(`${name} to archived (spawn):  median ${f2(median(runs.map((o) => o.archive)))} s; runs ${runs.map((o) => f2(o.archive)).join(', ')}`);
      console.log(`${name}: ratio ${refLabel}/${name}, flushed, from spawn:          median ${f2(median(flushRatios))}x (pairs ${flushRatios.map(f2).join(', ')})`);
      // Against pitrd on 15 the sustained figure is the throughput block's below (both from node loaded).
      if (!refIsPitrd) console.log(`${name}: ratio, flushed, from node loaded (sustained ingest):     median ${f2(median(sustainedRatios))}x (pairs ${sustainedRatios.map(f2).join(', ')})`);
      console.log(`${name}: ratio, archived in the repository, from spawn:           median ${f2(median(archiveRatios))}x (pairs ${archiveRatios.map(f2).join(', ')})`);
      console.log(`${name}: CPU to flushed / to archived: ${runs.map((o) => `${f2(o.cpuFlush)}/${f2(o.cpuArchive)}`).join(', ')} s (node's start: ${runs.map((o) => f2(o.cpuLoaded)).join(', ')} s); median ${f2(median(runs.map((o) => o.cpuFlush - o.cpuLoaded)) / gb)} s per GB to flushed once node loaded; CPU ratio ${refLabel}/${name} median ${f2(median(cpuRatios))}x`);
      console.log(`${name}: CPU per GB once node loaded / ${refLabel}'s, per pair: ${cpuLoadedRatios.map(f2).join(', ')}; median ${f2(median(cpuLoadedRatios))}x (target <= 1.0)`);
      console.log(`${name}: RSS during ingest (VmRSS peak sampled every 50 ms / VmHWM): ${runs.map((o) => `${o.rssPeakMb.toFixed(0)}/${o.hwmMb.toFixed(0)}`).join(', ')} MB`);
    };
    console.log('\n=== results ===');
    console.log(
      `WAL ingested: ${(walBytes / MB).toFixed(0)} MB (16 MiB segments) from PostgreSQL ${MAJOR}, ${RUNS} alternated rounds (${refIsPitrd ? 'pitrd on a PostgreSQL 15 source as the reference' : 'pg_receivewal'}, pitrd${BASELINE_DIST ? `, baseline = ${BASELINE_DIST}` : ''}), uploads ${process.env.BENCH_HOLD_UPLOADS ? 'HELD until the end LSN was flushed' : 'running concurrently (deferred while catching up until the spool holds 256 MiB)'}, fs repository, pitrd child: node ${NODE_FLAGS.join(' ')} on ${DIST}`,
    );
    console.log(`${refLabel}${refIsPitrd ? ' (scaled)' : ''}:              median ${f2(median(refs))} s (${(walBytes / MB / median(refs)).toFixed(0)} MB/s); runs ${refs.map(f2).join(', ')}; CPU median ${f2(median(refCpu) / gb)} s per GB`);
    summary('pitrd', ours);
    if (refIsPitrd) {
      // Throughput on N over throughput on 15, per round (each run's own WAL volume).
      const fromSpawn = ours.map((o, i) => walBytes / o.flush / (ref.walBytes / refRuns[i]!.flush));
      const sustained = ours.map((o, i) => walBytes / (o.flush - o.loaded) / (ref.walBytes / (refRuns[i]!.flush - refRuns[i]!.loaded)));
      const archived = ours.map((o, i) => walBytes / o.archive / (ref.walBytes / refRuns[i]!.archive));
      const cpuPerGb = (r: PitrdRun, bytes: number) => (r.cpuFlush - r.cpuLoaded) / (bytes / (1024 * MB));
      console.log(`receiver ingest on PostgreSQL ${MAJOR} / on PostgreSQL 15 (throughput ratio, median of rounds; 0.90 or more is within 10%):`);
      console.log(`  flushed, from spawn:                 ${f2(median(fromSpawn))} (rounds ${fromSpawn.map(f2).join(', ')})`);
      console.log(`  flushed, from node loaded (sustained): ${f2(median(sustained))} (rounds ${sustained.map(f2).join(', ')})`);
      console.log(`  archived, from spawn:                ${f2(median(archived))} (rounds ${archived.map(f2).join(', ')})`);
      console.log(`  CPU per GB to flushed once node loaded: ${MAJOR}: ${f2(median(ours.map((o) => cpuPerGb(o, walBytes))))} s, 15: ${f2(median(refRuns.map((r) => cpuPerGb(r, ref.walBytes))))} s`);
    }
    if (base.length) summary('baseline', base);
    if (lag) {
      const { tps, lags, lagRss, lagHwm } = lag;
      console.log(`flush lag under pgbench -c 8 on PostgreSQL ${MAJOR} (${tps} tps, ${lags.length} samples): p50 ${(pct(lags, 50) * 1000).toFixed(1)} ms, p99 ${(pct(lags, 99) * 1000).toFixed(1)} ms, max ${(Math.max(...lags) * 1000).toFixed(1)} ms; pitrd RSS peak ${lagRss.toFixed(0)} MB, VmHWM ${lagHwm.toFixed(0)} MB`);
    }
    console.log(`load average after each pair: ${loads.join(' | ')}; at the end: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  } finally {
    for (const c of children) await c.stop().catch(() => undefined);
    for (const src of sources) await src.cluster.destroy();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
