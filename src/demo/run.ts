import { chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBackupService } from '../basebackup/index.js';
import { PitrdError } from '../errors.js';
import { createReceiver, type Logger, type Receiver } from '../receiver/index.js';
import { openRepository } from '../repository/index.js';
import { DEFAULT_PG_BIN, postgresOsUser } from '../postgres/cluster/index.js';
import { runRestore, type RestoreResult } from '../restore/index.js';
import { createObjectStore, type ObjectStore } from '../storage/index.js';
import { postmasterPid, startDemoCluster, type DemoCluster } from './postgres.js';

export interface DemoOptions {
  keep?: boolean;
  pgBin?: string;
  /** One human line per step. */
  log: (line: string) => void;
  /** Aborted (Ctrl-C): stop at the next step boundary and clean up. */
  signal?: AbortSignal;
  rowsPerStep?: number;
}

export interface DemoSummary {
  ok: boolean;
  root: string;
  kept: boolean;
  backup: { id: string; start_lsn: string | null; stop_lsn: string | null };
  steps: Array<{ step: number; rows: number; committed_before: string; lsn: string }>;
  target_time: string;
  restore: { id: string; wal_files_applied: number; port: number | null };
  restored_rows: Record<string, number>;
  /** Every postmaster PID the demo started (all stopped by the time it returns). */
  pids: number[];
  duration_ms: number;
}

const quiet: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const STEPS = 3;

/**
 * `pitrd demo`: the whole PITR story on a throwaway cluster. Stream WAL into a local repository,
 * take a base backup, write three steps of rows, restore to a time between steps 2 and 3 and
 * prove the restored rows are exactly steps 1 and 2. Everything it starts is stopped and (unless
 * `keep`) every directory removed, on success, failure or abort.
 */
export async function runDemo(o: DemoOptions): Promise<DemoSummary> {
  const began = Date.now();
  const pgBin = o.pgBin ?? DEFAULT_PG_BIN;
  const perStep = o.rowsPerStep ?? 100;
  const owner = postgresOsUser();
  const root = mkdtempSync(join(tmpdir(), 'pitrd-demo-'));
  const mk = (name: string) => {
    const d = join(root, name);
    mkdirSync(d, { mode: 0o700 });
    if (owner) chownSync(d, owner.uid, owner.gid);
    return d;
  };
  if (owner) chownSync(root, owner.uid, owner.gid);
  const pids: number[] = [];
  let cluster: DemoCluster | null = null;
  let receiver: Receiver | null = null;
  let store: ObjectStore | null = null;
  let restored: RestoreResult | null = null;
  const checkpoint = () => {
    if (o.signal?.aborted) throw new PitrdError('DEMO_FAILED', 'demo interrupted by a signal; stopped what it started');
  };
  try {
    o.log(`working directory ${root}`);
    cluster = await startDemoCluster(mk('source'), pgBin);
    const sourcePid = cluster.pid();
    if (sourcePid) pids.push(sourcePid);
    o.log(`started PostgreSQL 15 (pid ${sourcePid}) on 127.0.0.1:${cluster.port}, data ${cluster.dataDir}`);
    checkpoint();

    const repoDir = mk('repository');
    store = createObjectStore({ type: 'fs', path: repoDir });
    const repo = await openRepository(store, { compression: 'gzip' });
    const db = repo.database({ project: 'default', name: 'demo' });
    receiver = createReceiver({ database: 'demo', connection: { ...cluster.connection }, repository: db, spoolDir: mk('spool'), logger: quiet });
    await receiver.start();
    o.log(`WAL receiver streaming into repository ${repoDir}`);
    checkpoint();

    const service = createBackupService({ repository: repo, databases: { demo: { connection: { ...cluster.connection }, schedule: null, pitr: true, walTimeoutMs: 120_000 } } });
    const backup = await service.run('demo', { label: 'pitrd-demo' }).finally(() => service.stop());
    if (backup.status !== 'completed') throw new PitrdError('DEMO_FAILED', `base backup ${backup.id} ended ${backup.status}: ${backup.error ?? ''}`);
    o.log(`base backup ${backup.id} taken: start LSN ${backup.start_lsn}, stop LSN ${backup.stop_lsn}`);
    checkpoint();

    await cluster.query(`CREATE TABLE demo_rows (step integer NOT NULL, n integer NOT NULL, PRIMARY KEY (step, n))`);
    const steps: DemoSummary['steps'] = [];
    let targetTime = '';
    for (let step = 1; step <= STEPS; step++) {
      if (step === STEPS) {
        // The server's clock, after step 2 committed and before step 3 starts: strictly between.
        await sleep(300);
        targetTime = (await cluster.query<{ t: string }>(`SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t`))[0]!.t;
        o.log(`recovery target chosen: ${targetTime} (after step 2, before step 3)`);
        await sleep(300);
      }
      await cluster.query(`INSERT INTO demo_rows SELECT $1, g FROM generate_series(1, $2) g`, [step, perStep]);
      const [r] = await cluster.query<{ t: string; lsn: string }>(`SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t, pg_current_wal_lsn()::text AS lsn`);
      steps.push({ step, rows: perStep, committed_before: r!.t, lsn: r!.lsn });
      o.log(`step ${step}: committed ${perStep} rows by ${r!.t}, WAL at LSN ${r!.lsn}`);
      checkpoint();
    }

    // Everything up to step 3's commit must be in the repository before restoring from it alone.
    const last = (await cluster.query<{ f: string }>(`SELECT pg_walfile_name(pg_current_wal_lsn()) AS f`))[0]!.f;
    await cluster.query(`SELECT pg_switch_wal()`);
    const deadline = Date.now() + 120_000;
    while (!(await db.wal.hasSegment(1, last))) {
      checkpoint();
      if (Date.now() > deadline) throw new PitrdError('DEMO_FAILED', `WAL segment ${last} was not archived within 120 s`);
      await sleep(100);
    }
    o.log(`WAL archived through segment ${last}`);
    await receiver.stop();
    receiver = null;
    await cluster.stop();
    o.log('source PostgreSQL stopped: restoring from the repository alone');
    checkpoint();

    restored = await runRestore({
      db, target: { kind: 'time', time: targetTime }, targetDir: join(mk('restore'), 'data'), mode: 'running', pgBin,
      onProgress: (p) => {
        // The restore's own phases, one line each (the byte-level updates are for `pitrd restore` on a terminal).
        if (p.phase === 'plan') o.log(`restore plan: backup ${p.backup_id}, ${p.segments_total} archived WAL segment(s) from its start LSN ${p.backup_start_lsn} on`);
        else if (p.phase === 'target_reached') o.log(`recovery target reached: ${p.segments_applied} WAL segment(s) replayed, replay LSN ${p.replay_lsn ?? '-'}`);
      },
    });
    const restoredPid = postmasterPid(restored.dataDir);
    if (restoredPid) pids.push(restoredPid);
    o.log(`restore ${restored.record.id} from backup ${restored.plan.backup.id} recovered to ${targetTime} (${restored.record.wal_files_applied} WAL files applied), running on port ${restored.port} (pid ${restoredPid})`);

    const counts = await countRows(restored.port!, cluster.connection.password, perStep);
    const expected: Record<string, number> = { '1': perStep, '2': perStep };
    const ok = JSON.stringify(counts) === JSON.stringify(expected);
    o.log(`restored rows per step: ${JSON.stringify(counts)}; expected ${JSON.stringify(expected)}: ${ok ? 'EXACT' : 'WRONG'}`);
    if (!ok) throw new PitrdError('DEMO_FAILED', `the restored database holds ${JSON.stringify(counts)}, expected ${JSON.stringify(expected)} (steps 1-2, not 3)`);
    return {
      ok,
      root,
      kept: o.keep === true,
      backup: { id: backup.id, start_lsn: backup.start_lsn ?? null, stop_lsn: backup.stop_lsn ?? null },
      steps,
      target_time: targetTime,
      restore: { id: restored.record.id, wal_files_applied: restored.record.wal_files_applied, port: restored.port ?? null },
      restored_rows: counts,
      pids,
      duration_ms: Date.now() - began,
    };
  } finally {
    await restored?.stopServer?.().catch(() => undefined);
    await receiver?.stop().catch(() => undefined);
    await cluster?.stop().catch(() => undefined);
    await store?.close().catch(() => undefined);
    // A Ctrl-C to the terminal's process group can kill pg_ctl half-way: sweep our data dirs.
    for (const d of [join(root, 'source', 'data'), join(root, 'restore', 'data')]) await stopPostmaster(postmasterPid(d), d);
    // pg_ctl stop returns once postmaster.pid is gone, a moment before the process itself.
    for (const pid of pids) for (let i = 0; i < 300 && alive(pid); i++) await sleep(50);
    if (o.keep) o.log(`kept ${root} (source/data, repository, restore/data)`);
    else rmSync(root, { recursive: true, force: true });
  }
}

/** Rows per step; a step whose rows are not exactly n = 1..perStep counts as -1. */
async function countRows(port: number, password: string, perStep: number): Promise<Record<string, number>> {
  const { default: pg } = await import('pg');
  // A throwaway cluster the demo runs on loopback itself, not a configured source: no sslmode
  // plan to follow, so not src/postgres's connectSource.
  const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password, database: 'postgres' });
  await c.connect();
  try {
    const rows = (await c.query<{ step: number; c: string; lo: number; hi: number }>('SELECT step, count(*) AS c, min(n) AS lo, max(n) AS hi FROM demo_rows GROUP BY step ORDER BY step')).rows;
    // (step, n) is the primary key: perStep distinct values within 1..perStep are exactly 1..perStep.
    return Object.fromEntries(rows.map((r) => [String(r.step), r.lo === 1 && r.hi === perStep ? Number(r.c) : -1]));
  } finally {
    await c.end();
  }
}

/** Fast shutdown (SIGINT) of a postmaster we started, then SIGKILL if it lingers. */
async function stopPostmaster(pid: number | null, dataDir: string): Promise<void> {
  if (pid === null || !alive(pid)) return;
  // A stale postmaster.pid may name a reused PID: only signal a process serving this directory.
  try {
    if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dataDir)) return;
  } catch {
    return;
  }
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 300 && alive(pid); i++) await sleep(100);
  if (alive(pid)) process.kill(pid, 'SIGKILL');
}

/** Running (a zombie awaiting its reaper counts as gone: it holds no resources). */
function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
