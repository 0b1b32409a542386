/**
 * Restore benchmark (not a test): pitrd's restore + replay against pgBackRest's restore + replay
 * (async archive-get), from equal base backups of the same pgbench database with the same
 * compression (gzip level 6 / pgBackRest compress-type=gz compress-level=6), replaying the same
 * archived WAL; plus the per-segment latency of each restore_command. Usage (as root, with
 * PostgreSQL 15 and pgbackrest installed):
 *
 *   BENCH_SCALE=20 BENCH_WAL_MB=2048 BENCH_ROUNDS=3 npx tsx bench/restore-bench.ts
 *
 * Setup, once: a cluster with `pgbench -i -s BENCH_SCALE`; its WAL archived by both tools at the
 * same time (pitrd's receiver over the replication protocol, pgBackRest's async archive-push as
 * archive_command); a pitrd PITR base backup and a pgBackRest full backup back to back; then
 * pgbench transactions alternate with bulk UPDATEs of pgbench_accounts until BENCH_WAL_MB of WAL
 * were written after them; the source is stopped.
 * Each round restores with both tools (alternating which goes first) into a new directory to the
 * end of the archive (`latest` / --type=default), starts PostgreSQL with the same options, waits
 * for the promotion at the end of recovery, checks the restored row count, and stops it.
 * Timed: from the start of the restore to the stopped server; "files" is the part before the
 * first restore_command call, "replay" the rest. Every restore_command runs under the same
 * bash timing wrapper (bench/lib/timing.ts) for both tools.
 * Results: a table on stdout and bench/results/restore-<time>.{json,txt}.
 * Options: BENCH_PREFETCH_DEPTH, BENCH_PREFETCH_CONCURRENCY (pitrd; default: pitrd's defaults),
 * BENCH_BACKREST_PROCESS_MAX (1).
 */
import { execa } from 'execa';
import { chownSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createBackupService } from '../src/basebackup/index.js';
import { summarizeArchive } from '../src/catalog/index.js';
import { createReceiver } from '../src/receiver/index.js';
import { openRepository } from '../src/repository/index.js';
import { runRestore } from '../src/restore/index.js';
import { pgCtlStart, pgCtlStop, query, waitRecoveryEnd, type RecoveryServer } from '../src/postgres/cluster/index.js';
import { createObjectStore } from '../src/storage/index.js';
import { freePort, makeTempDir, PG_BIN, postgresUser, startPostgres } from '../test/harness/index.js';
import { waitFor } from '../test/harness/receiver.js';
import { archiveGetCommand, archivePushCommand, haveBackrest, setupBackrest } from './lib/pgbackrest.js';
import { makeTimingLog, median, quantile, readTimingLog, segmentFetches, writeTimer, type Invocation } from './lib/timing.js';

const SCALE = Number(process.env.BENCH_SCALE ?? 20);
const WAL_MB = Number(process.env.BENCH_WAL_MB ?? 2048);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const DEPTH = process.env.BENCH_PREFETCH_DEPTH ? Number(process.env.BENCH_PREFETCH_DEPTH) : undefined;
const CONCURRENCY = process.env.BENCH_PREFETCH_CONCURRENCY ? Number(process.env.BENCH_PREFETCH_CONCURRENCY) : undefined;
const PROCESS_MAX = Number(process.env.BENCH_BACKREST_PROCESS_MAX ?? 1);
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

if (!(await haveBackrest())) {
  console.error('pgbackrest is not installed (apt-get install pgbackrest): nothing to compare with');
  process.exit(2);
}

interface RoundResult {
  round: number;
  tool: 'pitrd' | 'pgBackRest';
  totalS: number;
  filesS: number;
  replayS: number;
  segments: number;
  latenciesMs: number[];
  rows: number;
}

const now = () => Number(process.hrtime.bigint()) / 1e9;
const log = (s: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${s}`);
const owner = postgresUser();

const cluster = await startPostgres({ settings: { autovacuum: 'off', checkpoint_timeout: "'30min'", max_wal_size: "'4GB'" } });
const scratch = makeTempDir('restore-bench');
let receiver: ReturnType<typeof createReceiver> | null = null;
const store = createObjectStore({ type: 'fs', path: join(scratch, 'pitrd-repo') });
const results: RoundResult[] = [];
try {
  const timer = join(scratch, 'timer.sh');
  writeTimer(timer);
  const br = setupBackrest({ dir: scratch, stanza: 'bench', pgDataDir: cluster.dataDir, pgPort: cluster.port, pgSocketDir: join(cluster.dataDir, '..', 'sock'), compressLevel: 6, processMax: PROCESS_MAX });

  log(`pgbench -i -s ${SCALE}`);
  const pgbench = (args: string[]) => cluster.exec('pgbench', [...args, '-h', '127.0.0.1', '-p', String(cluster.port), '-U', 'postgres', 'postgres']);
  await pgbench(['-i', '-s', String(SCALE), '-q']);
  const [size] = await cluster.query<{ s: string }>(`SELECT pg_size_pretty(pg_database_size('postgres')) AS s`);

  // pgBackRest archives through archive_command (async push), pitrd through its receiver.
  await cluster.query(`ALTER SYSTEM SET archive_mode = on`);
  await cluster.query(`ALTER SYSTEM SET archive_command = '${archivePushCommand(br).replace(/'/g, "''")}'`);
  await cluster.restart();
  const sc = await br.run(['stanza-create']);
  if (sc.exitCode !== 0) throw new Error(`pgbackrest stanza-create failed: ${sc.stderr || sc.stdout}`);

  const repo = await openRepository(store, { compression: { algorithm: 'gzip', level: 6 } });
  const db = repo.database({ project: 'default', name: 'bench' });
  receiver = createReceiver({ database: 'bench', connection: { ...cluster.connection }, repository: db, spoolDir: join(scratch, 'pitrd-spool') });
  await receiver.start();

  log('base backups: pitrd, then pgBackRest');
  const service = createBackupService({ repository: repo, databases: { bench: { connection: { ...cluster.connection }, schedule: null, pitr: true, walTimeoutMs: 600_000 } } });
  let t0 = now();
  const pitrdBackup = await service.run('bench', { label: 'bench' });
  const tPitrdBackup = now() - t0;
  await service.stop();
  if (pitrdBackup.status !== 'completed') throw new Error(`pitrd backup ${pitrdBackup.status}`);
  t0 = now();
  const bb = await br.run(['--type=full', 'backup']);
  const tBackrestBackup = now() - t0;
  if (bb.exitCode !== 0) throw new Error(`pgbackrest backup failed: ${bb.stderr || bb.stdout}`);

  log(`pgbench until ${WAL_MB} MB of WAL`);
  const [{ start }] = (await cluster.query<{ start: string }>(`SELECT pg_current_wal_lsn()::text AS start`)) as [{ start: string }];
  let burst = 0;
  for (;;) {
    const [{ mb }] = (await cluster.query<{ mb: number }>(`SELECT (pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn) / 1048576)::float8 AS mb`, [start])) as [{ mb: number }];
    if (mb >= WAL_MB) break;
    // Short pgbench transactions (many small records), then a bulk UPDATE of a quarter of the
    // accounts (WAL volume quickly, on a shared machine where pgbench alone is slow).
    await pgbench(['-n', '-c', '2', '-j', '2', '-T', '3']);
    await cluster.query(`UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % 4 = ${burst++ % 4}`);
  }
  const [{ rows: sourceRows }] = (await cluster.query<{ rows: string }>(`SELECT count(*)::text AS rows FROM pgbench_history`)) as [{ rows: string }];
  const [{ last }] = (await cluster.query<{ last: string }>(`SELECT pg_walfile_name(pg_current_wal_lsn()) AS last`)) as [{ last: string }];
  await cluster.query(`SELECT pg_switch_wal()`);
  log(`waiting for both archives to hold ${last}`);
  await waitFor(`pitrd archive to hold ${last}`, () => db.wal.hasSegment(1, last), 1_800_000, 500);
  await waitFor(`pgBackRest archive to hold ${last}`, async () => {
    const [r] = await cluster.query<{ w: string | null }>(`SELECT last_archived_wal AS w FROM pg_stat_archiver`);
    return r?.w !== null && r!.w! >= last;
  }, 1_800_000, 500);
  await receiver.stop();
  receiver = null;
  await cluster.stop('fast');
  // What the daemon keeps current in the background: summaries of the archived WAL (the plan reads them).
  await summarizeArchive(repo, { project: 'default', name: 'bench' });
  let walSegments = 0;
  for await (const _ of db.wal.listSegments(1)) walSegments++;
  const walMb = Number((await execa('du', ['-sm', join(scratch, 'pitrd-repo')])).stdout.split('\t')[0]);
  const brMb = Number((await execa('du', ['-sm', br.repoDir])).stdout.split('\t')[0]);
  log(`archived ${walSegments} segments; repositories: pitrd ${walMb} MB, pgBackRest ${brMb} MB`);

  const targetDir = (tag: string) => {
    const d = join(scratch, `restore-${tag}`);
    mkdirSync(d, { mode: 0o700 });
    if (owner) chownSync(d, owner.uid, owner.gid);
    return join(d, 'data');
  };
  const phases = (round: number, tool: RoundResult['tool'], t: number, t1: number, inv: Invocation[], rows: number): RoundResult => {
    const first = inv.length ? Math.min(...inv.map((i) => i.start)) : NaN;
    const segs = segmentFetches(inv);
    // $EPOCHREALTIME is wall-clock time: convert the first call to our monotonic clock's scale.
    const files = first - (Date.now() / 1000 - (now() - t));
    return { round, tool, totalS: t1 - t, filesS: files, replayS: t1 - t - files, segments: segs.length, latenciesMs: segs.map((i) => (i.end - i.start) * 1000), rows };
  };

  async function pitrdRound(round: number): Promise<RoundResult> {
    const dir = targetDir(`pitrd-${round}`);
    const tlog = join(scratch, `timing-pitrd-${round}.log`);
    makeTimingLog(tlog);
    const t = now();
    const r = await runRestore({ db, repo, target: { kind: 'latest' }, targetDir: dir, mode: 'running', restoreCommandPrefix: `'${timer}' '${tlog}'`, ...(DEPTH !== undefined ? { prefetchDepth: DEPTH } : {}), ...(CONCURRENCY !== undefined ? { prefetchConcurrency: CONCURRENCY } : {}) });
    const [row] = await query<{ n: string }>({ dataDir: dir, port: r.port!, socketDir: join(r.workDir, 'sock'), logFile: '', pgBin: PG_BIN, user: 'postgres' }, 'SELECT count(*)::text AS n FROM pgbench_history');
    await r.stopServer!();
    const t1 = now();
    rmSync(dirname(dir), { recursive: true, force: true });
    return phases(round, 'pitrd', t, t1, readTimingLog(tlog), Number(row!.n));
  }

  async function backrestRound(round: number): Promise<RoundResult> {
    const dir = targetDir(`pgbackrest-${round}`);
    const tlog = join(scratch, `timing-pgbackrest-${round}.log`);
    makeTimingLog(tlog);
    const work = makeTempDir('restore-bench-br');
    const sock = join(work, 'sock');
    mkdirSync(sock, { mode: 0o700 });
    if (owner) chownSync(sock, owner.uid, owner.gid);
    const server: RecoveryServer = { dataDir: dir, port: await freePort(), socketDir: sock, logFile: join(work, 'postgres.log'), pgBin: PG_BIN, user: 'postgres', ...(owner ? { owner } : {}) };
    const t = now();
    mkdirSync(dir, { mode: 0o700 });
    if (owner) chownSync(dir, owner.uid, owner.gid);
    const rr = await br.run([`--pg1-path=${dir}`, '--type=default', `--recovery-option=restore_command=${timer} ${tlog} ${archiveGetCommand(br, dir)}`, 'restore']);
    if (rr.exitCode !== 0) throw new Error(`pgbackrest restore failed: ${rr.stderr || rr.stdout}`);
    await pgCtlStart(server);
    const outcome = await waitRecoveryEnd(server, 'promote', 3_600_000);
    if (outcome !== 'promoted') throw new Error(`pgBackRest-restored server ${outcome}`);
    const [row] = await query<{ n: string }>(server, 'SELECT count(*)::text AS n FROM pgbench_history');
    await pgCtlStop(server);
    const t1 = now();
    rmSync(dirname(dir), { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
    return phases(round, 'pgBackRest', t, t1, readTimingLog(tlog), Number(row!.n));
  }

  for (let round = 1; round <= ROUNDS; round++) {
    // Alternate who goes first: the page cache and the neighbours' load favour neither.
    const order = round % 2 === 1 ? [pitrdRound, backrestRound] : [backrestRound, pitrdRound];
    for (const fn of order) {
      const r = await fn(round);
      log(`round ${round} ${r.tool}: ${r.totalS.toFixed(1)} s (files ${r.filesS.toFixed(1)} s, replay ${r.replayS.toFixed(1)} s, ${r.segments} segments, ${r.rows} rows)`);
      if (String(r.rows) !== sourceRows) throw new Error(`${r.tool} restored ${r.rows} pgbench_history rows, the source had ${sourceRows}`);
      results.push(r);
    }
  }

  // The floor under this machine's load: the same wrapper around /bin/true, run the way
  // PostgreSQL runs a restore_command (sh -c), right after the rounds.
  const floorLog = join(scratch, 'timing-floor.log');
  makeTimingLog(floorLog);
  for (let i = 0; i < 100; i++) await execa('sh', ['-c', `'${timer}' '${floorLog}' /bin/true x 000000010000000000000001 y`]);
  const floor = readTimingLog(floorLog).map((i) => (i.end - i.start) * 1000);

  const of = (tool: RoundResult['tool']) => results.filter((r) => r.tool === tool);
  const ratios = Array.from({ length: ROUNDS }, (_, i) => of('pitrd')[i]!.totalS / of('pgBackRest')[i]!.totalS);
  const lat = (tool: RoundResult['tool']) => of(tool).flatMap((r) => r.latenciesMs);
  const f = (n: number, d = 1) => n.toFixed(d).padStart(8);
  const lines = [
    `restore benchmark ${new Date().toISOString()}  (load average ${(await execa('cat', ['/proc/loadavg'])).stdout.split(' ').slice(0, 3).join(' ')})`,
    `database: pgbench -i -s ${SCALE} (${size!.s}); WAL after the backups: ${WAL_MB} MB asked, ${walSegments} archived segments of 16 MB; gzip level 6 on both sides`,
    `repositories: pitrd ${walMb} MB, pgBackRest ${brMb} MB; base backup took pitrd ${tPitrdBackup.toFixed(1)} s, pgBackRest ${tBackrestBackup.toFixed(1)} s`,
    `pitrd prefetch depth ${DEPTH ?? 'default'}, concurrency ${CONCURRENCY ?? 'default'}; pgBackRest archive-async=y process-max=${PROCESS_MAX}; target: end of archive, promote, stop`,
    '',
    'round  tool          total s   files s  replay s  segments',
    ...results.map((r) => `${String(r.round).padStart(5)}  ${r.tool.padEnd(10)} ${f(r.totalS)}  ${f(r.filesS)}  ${f(r.replayS)}  ${String(r.segments).padStart(8)}`),
    '',
    `pitrd / pgBackRest total time: median ${median(ratios).toFixed(2)}x  (rounds: ${ratios.map((x) => x.toFixed(2)).join(', ')})`,
    `  files phase median ${median(of('pitrd').map((r) => r.filesS)).toFixed(1)} s vs ${median(of('pgBackRest').map((r) => r.filesS)).toFixed(1)} s; replay phase median ${median(of('pitrd').map((r) => r.replayS)).toFixed(1)} s vs ${median(of('pgBackRest').map((r) => r.replayS)).toFixed(1)} s`,
    '',
    'restore_command per WAL segment (ms, all rounds)   n   median      p95      max',
    ...([['pitrd', lat('pitrd')], ['pgBackRest', lat('pgBackRest')], ['floor: the wrapper around /bin/true', floor]] as const).map(([tool, v]) => {
      return `  ${tool.padEnd(46)} ${String(v.length).padStart(4)} ${f(median(v), 2)} ${f(quantile(v, 0.95), 2)} ${f(Math.max(...v), 2)}`;
    }),
    `  pitrd calls at or under 5 ms: ${lat('pitrd').filter((x) => x <= 5).length} of ${lat('pitrd').length}; p25 ${quantile(lat('pitrd'), 0.25).toFixed(2)} ms, p75 ${quantile(lat('pitrd'), 0.75).toFixed(2)} ms`,
    '',
    `command: BENCH_SCALE=${SCALE} BENCH_WAL_MB=${WAL_MB} BENCH_ROUNDS=${ROUNDS}${DEPTH !== undefined ? ` BENCH_PREFETCH_DEPTH=${DEPTH}` : ''}${CONCURRENCY !== undefined ? ` BENCH_PREFETCH_CONCURRENCY=${CONCURRENCY}` : ''} npx tsx bench/restore-bench.ts`,
  ];
  console.log('\n' + lines.join('\n'));
  const out = join(ROOT, 'bench', 'results');
  mkdirSync(out, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  writeFileSync(join(out, `restore-${stamp}.txt`), lines.join('\n') + '\n');
  writeFileSync(join(out, `restore-${stamp}.json`), JSON.stringify({ scale: SCALE, walMb: WAL_MB, walSegments, rounds: results, ratios, floorMs: floor }, null, 2));
} finally {
  await receiver?.stop().catch(() => undefined);
  await store.close();
  await cluster.destroy();
  rmSync(scratch, { recursive: true, force: true });
}
