import { crashPoint } from '../crash/index.js';
import { appendFileSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { isPitrdError, PitrdError } from '../errors.js';
import { newId, type DatabaseRepository, type RestoreRecord, type StoredWalSegment } from '../repository/index.js';
import { formatLsn, parseLsn, segnoOf } from '../wal/index.js';
import { assertDiskRoom, diskNeed } from './disk-room.js';
import { extractBackup } from './extract.js';
import { removeInProgressMark, takeOverInterruptedTarget, targetState } from './in-progress.js';
import { planRestore, type RestorePlan } from './plan.js';
import { Prefetcher, replayOrder, restoreCommandScript } from './prefetch.js';
import { binDirFor, DEFAULT_PG_BIN, freePort, hostBinDirs, isRunning, logTail, pgCtlStart, pgCtlStop, postgresOsUser, waitRecoveryEnd, type RecoveryServer } from '../postgres/cluster/index.js';
import { recoverySettings, targetReachedPattern, type RecoveryOptions } from './target.js';
import { assertSpoolOf, copyPaddedPartial, segmentAfterArchive, servableFromSpool } from './spool-partial.js';
import { appliedCount, watchReplay, type RestoreProgressListener } from './progress.js';

export interface RunRestoreOptions extends RecoveryOptions {
  db: DatabaseRepository;
  targetDir: string;
  backupId?: string;
  /** With it, the plan first brings WAL summaries up to date, so the recovery-window check is current. */
  repo?: import('../repository/index.js').Repository;
  /** Where the plan reads the catalog (the daemon: its catalog thread); default the repository, in this thread. */
  catalog?: import('./plan.js').PlanCatalog;
  /** 'stopped': a ready-to-start data directory; 'running': leave the server up and return its address. */
  mode?: 'stopped' | 'running';
  tablespaceMap?: Record<string, string>;
  prefetchDepth?: number;
  /** WAL segments downloaded at the same time by the prefetcher (default 2). */
  prefetchConcurrency?: number;
  pgBin?: string;
  port?: number;
  timeoutMs?: number;
  /** Progress (plan, extract bytes, WAL replay, target reached), e.g. for the CLI's progress display. */
  onProgress?: RestoreProgressListener;
  /**
   * A command (already shell-quoted) put in front of the restore_command, which it must run with
   * its arguments and whose exit status it must keep: e.g. a timing wrapper for benchmarks.
   */
  restoreCommandPrefix?: string;
  /**
   * The receiver's spool directory of this database, when it is on this host. Used only for
   * target `latest`: the WAL the spool holds beyond the last archived segment is served too
   * (segments completed but not yet uploaded as they are, then `<segment>.partial` as a
   * zero-padded copy), so the restore reaches everything this host holds. Other targets are checked against the recovery window, which is what the
   * repository holds: serving unarchived WAL to them would replay past what the plan verified.
   */
  spoolDir?: string;
  /**
   * Bytes that must stay free on the target's file system once the restore is written; the restore
   * is refused (INSUFFICIENT_DISK_SPACE, before anything is written) when its estimate does not fit.
   */
  minFreeBytes?: number;
  /**
   * Where the recovery server's Unix socket and log (`postgres.log`) go; default: the temporary
   * work directory. A caller that leaves a promoted server running after it exits (`pitrd restore
   * --run`) gives a directory that outlives it: the work directory is then removed as soon as the
   * server is promoted, since nothing the running server uses is left in it.
   */
  runDir?: string;
  /**
   * Target `latest` replayed as an LSN target at the last archived record (no spool): an archive
   * that ends early for PostgreSQL (a segment that cannot be fetched or fails its checksum, which
   * restore_command can only answer as absent) fails the restore with "recovery ended before the
   * configured recovery target was reached" instead of promoting at the break. What drills use.
   */
  strictLatest?: boolean;
  /**
   * Replace the restored pg_hba.conf with `local all all trust` before the server starts: for a
   * throwaway server whose checks must connect whatever the source's authentication (drills).
   * The socket stays reachable only by pitrd's and the server's OS user (mode 0700).
   */
  localTrust?: boolean;
}

export interface RestoreResult {
  record: RestoreRecord;
  plan: RestorePlan;
  dataDir: string;
  /** Set in 'running' mode. */
  connectionString?: string;
  port?: number;
  /** Server log and staging area (kept in 'running' mode, removed otherwise). */
  workDir: string;
  /** Set in 'running' mode: the directory of the server's Unix socket. */
  socketDir?: string;
  stopServer?: () => Promise<void>;
}


/**
 * A restore that passed every check (plan, spool, empty target, disk room): nothing is written yet.
 * `segments` are the archived segments replay will ask for, in order.
 */
export interface PreparedRestore {
  plan: RestorePlan;
  targetDir: string;
  /** The receiver's spool, when WAL beyond the archive is to be served (target latest). */
  spoolDir: string | null;
  segments: StoredWalSegment[];
  /** The server binaries of the backup's major. */
  pgBin: string;
}

/**
 * A restore in three steps, so a caller can answer between them (the daemon's 202 comes after
 * `recordRestore`, the work goes on in the background):
 *  - prepareRestore: plan (repository only) and check; on refusal nothing is written;
 *  - recordRestore: restores/{id}.json, status pending (the moment the restore exists; running once executeRestore starts);
 *  - executeRestore: extract the base backup, write recovery.signal + settings, run PostgreSQL to
 *    the target with a prefetching restore_command, check the target was reached, record the end.
 * runRestore does the three in a row.
 */
export async function runRestore(o: RunRestoreOptions): Promise<RestoreResult> {
  const prepared = await prepareRestore(o);
  return executeRestore(o, prepared, await recordRestore(o, prepared));
}

export async function prepareRestore(o: RunRestoreOptions): Promise<PreparedRestore> {
  const targetDir = resolve(o.targetDir);
  const plan = await planRestore(o.db, { ...o, ...(o.backupId !== undefined ? { backupId: o.backupId } : {}) });
  if (o.strictLatest && o.target.kind === 'latest') plan.recovery = latestAsLsn(plan);
  const spoolDir = o.target.kind === 'latest' && o.spoolDir !== undefined && !o.strictLatest ? resolve(o.spoolDir) : null;
  if (spoolDir !== null) assertSpoolOf(spoolDir, (await o.db.info())?.system_identifier ?? null, plan.walSegmentSize);
  // Empty, absent, or what an interrupted restore left (taken over by executeRestore).
  targetState(targetDir);
  // The backup's major runs it: refused here, before anything is written, when this host lacks it.
  const major = plan.backup.pg_version ?? (await o.db.info())?.pg_version ?? null;
  const pgBin = o.pgBin ?? (major === null ? DEFAULT_PG_BIN : binDirFor(major, hostBinDirs()));
  const all = [];
  for (const tli of plan.timelines) for await (const s of o.db.wal.listSegments(tli)) all.push(s);
  const segments = replayOrder(all, plan.timelines, segnoOf(parseLsn(plan.backup.start_lsn!), plan.walSegmentSize), plan.walSegmentSize);
  assertDiskRoom(targetDir, diskNeed(plan.backup, segments.length, plan.walSegmentSize, o.minFreeBytes ?? 0));
  return { plan, targetDir, spoolDir, segments, pgBin };
}

/**
 * The restore's record, status pending (the API reference's first status; it turns running when
 * executeRestore starts the work). `fields`: the caller's own (the daemon's mode, target
 * directory, project): restores/{id}.json is a loose object, and every later save keeps them.
 */
export async function recordRestore(o: Pick<RunRestoreOptions, 'db' | 'target'>, prepared: PreparedRestore, fields: Record<string, unknown> = {}): Promise<RestoreRecord> {
  const { plan } = prepared;
  const t = o.target;
  return o.db.restores.save({
    ...fields,
    id: newId('rstr'),
    database: o.db.name,
    status: 'pending',
    target_time: t.kind === 'time' ? new Date(t.time).toISOString() : t.kind === 'latest' ? 'latest' : null,
    target_lsn: t.kind === 'lsn' ? t.lsn : null,
    target_name: t.kind === 'name' ? t.name : null,
    target: t,
    // What PostgreSQL is told when it differs from what was asked (see src/wal/admit.ts).
    ...(plan.recovery.translated !== null ? { recovery_target: plan.recovery.target, recovery_target_note: plan.recovery.translated } : {}),
    backup_id: plan.backup.id,
    started_at: new Date().toISOString(),
  });
}

/** The work of a prepared and recorded restore; its end (completed or failed) is recorded too. */
export async function executeRestore(o: RunRestoreOptions, prepared: PreparedRestore, recorded: RestoreRecord): Promise<RestoreResult> {
  const { plan, targetDir, spoolDir, segments, pgBin } = prepared;
  let record = recorded;
  const owner = postgresOsUser();
  const workDir = mkdtempSync(join(tmpdir(), 'pitrd-restore-'));
  let server: RecoveryServer | null = null;
  let prefetcher: Prefetcher | null = null;
  let keep = false;
  /** The spool `.partial` served to PostgreSQL (a `latest` restore with spoolDir), if any. */
  let partialServed: string | null = null;
  let stopWatch: (() => Promise<string | null>) | null = null;
  const targetExisted = existsSync(targetDir);
  const createdDirs: string[] = [];
  try {
    record = await o.db.restores.save({ ...record, status: 'running' });
    if (owner) chownSync(workDir, owner.uid, owner.gid);
    const stageDir = join(workDir, 'stage');
    const runDir = o.runDir !== undefined ? resolve(o.runDir) : null;
    const socketDir = runDir ?? join(workDir, 'sock');
    for (const d of runDir === null ? [stageDir, socketDir] : [stageDir]) {
      mkdirSync(d, { mode: 0o700 });
      if (owner) chownSync(d, owner.uid, owner.gid);
    }
    const appliedLog = join(workDir, 'applied.log');
    writeFileSync(appliedLog, '');
    if (owner) chownSync(appliedLog, owner.uid, owner.gid);

    o.onProgress?.({ phase: 'plan', backup_id: plan.backup.id, backup_start_lsn: plan.backup.start_lsn ?? null, target_timeline: plan.targetTimeline, segments_total: segments.length });

    // Asked for only once replay has used every archived segment, so the spool is read late,
    // when the receiver has flushed the most into it.
    const firstFromSpool = spoolDir !== null ? segmentAfterArchive(segments, plan.targetTimeline, plan.walSegmentSize) : null;
    const fallback = firstFromSpool === null ? {} : {
      fallback: (file: string, dest: string) => {
        if (!servableFromSpool(file, firstFromSpool, plan.walSegmentSize)) return false;
        const kind = copyPaddedPartial(spoolDir!, file, dest, plan.walSegmentSize, owner);
        if (kind === 'partial') partialServed = file;
        return kind !== null;
      },
    };
    // The first segments download while the base backup extracts: replay starts with them staged.
    prefetcher = new Prefetcher({ db: o.db, stageDir, segments, depth: o.prefetchDepth ?? 8, ...(o.prefetchConcurrency !== undefined ? { concurrency: o.prefetchConcurrency } : {}), ...(owner ? { owner } : {}), ...fallback });
    prefetcher.start();

    // What a restore that died in this directory left behind is not data: it goes first.
    const state = targetState(targetDir);
    if (state.kind === 'interrupted') await takeOverInterruptedTarget(o.db, targetDir, state.mark, pgBin);
    const mark = { restore: record.id, database: o.db.name, backup: plan.backup.id, started_at: record.started_at, work_dir: workDir };
    await extractBackup({ db: o.db, backup: plan.backup, targetDir, owner, created: createdDirs, mark, ...(o.tablespaceMap ? { tablespaceMap: o.tablespaceMap } : {}), ...(o.onProgress ? { onProgress: o.onProgress } : {}) });
    crashPoint('restore.after-extract');
    if (o.localTrust) {
      const hba = join(targetDir, 'pg_hba.conf');
      writeFileSync(hba, '# pitrd: a throwaway server (restore drill), reachable on its 0700 socket only\nlocal all all trust\n', { mode: 0o600 });
      if (owner) chownSync(hba, owner.uid, owner.gid);
    }

    const script = join(workDir, 'restore_command.sh');
    writeFileSync(script, restoreCommandScript(stageDir, appliedLog), { mode: 0o755 });
    const command = `${o.restoreCommandPrefix ? `${o.restoreCommandPrefix} ` : ''}'${script}' '%f' '%p'`;
    // The plan's target: the asked one, or the equivalent PostgreSQL can reach.
    const recovery: RecoveryOptions = { ...o, target: plan.recovery.target, ...(plan.recovery.inclusive !== undefined ? { inclusive: plan.recovery.inclusive } : {}) };
    const settings = recoverySettings(recovery, command);
    appendFileSync(join(targetDir, 'postgresql.auto.conf'), `\n# pitrd restore ${record.id}\n${Object.entries(settings).map(([k, v]) => `${k} = ${v}`).join('\n')}\n`);
    writeFileSync(join(targetDir, 'recovery.signal'), '');
    if (owner) chownSync(join(targetDir, 'recovery.signal'), owner.uid, owner.gid);

    server = { dataDir: targetDir, port: o.port ?? (await freePort()), socketDir, logFile: join(runDir ?? workDir, 'postgres.log'), pgBin, user: 'postgres', ...(owner ? { owner } : {}) };
    const action = o.target.kind === 'latest' ? 'promote' : (o.action ?? 'promote');
    const progress = o.onProgress;
    stopWatch = progress ? watchReplay(server, appliedLog, segments.length, progress) : null;
    try {
      await pgCtlStart(server);
    } catch (err) {
      // With action shutdown the server may be done before pg_ctl looked.
      if (!(action === 'shutdown' && targetReachedPattern(recovery.target).test(readLog(server.logFile)))) {
        throw new PitrdError('RESTORE_FAILED', `recovery of ${targetDir} to ${describeTarget(o)} failed: the server stopped: ${logTail(server.logFile)}`, { cause: err, context: { restore: record.id, target_dir: targetDir } });
      }
    }
    const outcome = await waitRecoveryEnd(server, action, o.timeoutMs ?? 600_000);
    const replayLsn = stopWatch ? await stopWatch() : null;
    stopWatch = null;
    const log = readLog(server.logFile);
    if (!targetReachedPattern(recovery.target).test(log) || (outcome === 'stopped' && action !== 'shutdown')) {
      throw new PitrdError('RESTORE_FAILED', `recovery of ${targetDir} did not reach the target ${describeTarget(o)}: ${logTail(server.logFile)}`, { context: { restore: record.id, target_dir: targetDir } });
    }
    progress?.({ phase: 'target_reached', outcome, segments_applied: appliedCount(appliedLog), replay_lsn: replayLsn });
    // A paused server left running still replays (after pg_wal_replay_resume) through the
    // prefetcher: it stays up until stopServer().
    const keepPrefetching = outcome === 'paused' && (o.mode ?? 'stopped') === 'running';
    if (!keepPrefetching) await prefetcher.stop();
    const appliedFiles = readLog(appliedLog).split('\n').filter((l) => l.trim() !== '');
    const applied = appliedFiles.length;
    const partialSegment = partialServed !== null && appliedFiles.includes(partialServed) ? partialServed : null;
    let connectionString: string | undefined;
    if ((o.mode ?? 'stopped') === 'running' && outcome !== 'stopped') {
      keep = true;
      connectionString = `postgresql://postgres@127.0.0.1:${server.port}/postgres`;
    } else if (isRunning(server)) {
      await pgCtlStop(server);
    }
    // A promoted cluster no longer needs our restore_command (its script is about to be deleted):
    // leave a data directory that starts cleanly on its own.
    if (outcome === 'promoted') dropRecoverySettings(join(targetDir, 'postgresql.auto.conf'), record.id, Object.keys(settings));
    // Complete: from here on the directory is data, never taken for an interrupted restore's.
    removeInProgressMark(targetDir);
    record = await o.db.restores.save({ ...record, status: 'completed', completed_at: new Date().toISOString(), wal_files_applied: applied, ...(partialSegment !== null ? { partial_segment: partialSegment } : {}) });
    // Promoted with its socket and log elsewhere: the running server no longer uses the work dir.
    if (keep && runDir !== null && outcome === 'promoted') rmSync(workDir, { recursive: true, force: true });
    const srv = server;
    const pf = prefetcher;
    return {
      record,
      plan,
      dataDir: targetDir,
      workDir,
      ...(keep ? { connectionString, port: srv.port, socketDir: srv.socketDir, stopServer: async () => { await pgCtlStop(srv); await pf.stop(); rmSync(workDir, { recursive: true, force: true }); } } : {}),
    };
  } catch (err) {
    await stopWatch?.();
    await prefetcher?.stop();
    if (server && isRunning(server)) await pgCtlStop(server);
    const message = err instanceof Error ? err.message : String(err);
    let failure = isPitrdError(err) ? err : new PitrdError('RESTORE_FAILED', `restore ${record.id} failed: ${message}`, { cause: err, context: { restore: record.id } });
    // Replay stopped short and a WAL download had failed: that object is why (it reached
    // PostgreSQL only as a missing file). Named in the context for callers (drills).
    const fetchErr = prefetcher?.lastError;
    if (failure.code === 'RESTORE_FAILED' && isPitrdError(fetchErr) && typeof fetchErr.context.key === 'string') {
      failure = new PitrdError('RESTORE_FAILED', `${failure.message}; reading WAL from the repository failed: ${fetchErr.code}: ${fetchErr.message}`, {
        cause: err,
        context: { ...failure.context, key: fetchErr.context.key, fetch_code: fetchErr.code },
      });
    }
    // `error` keeps every detail for the operator; the API shows `error_public` (src/errors.ts).
    await o.db.restores.save({ ...record, status: 'failed', completed_at: new Date().toISOString(), error: message, error_public: `${failure.code}: ${failure.publicMessage}` }).catch(() => undefined);
    // Leave no half-restored cluster behind to be mistaken for a good one.
    rmSync(targetDir, { recursive: true, force: true });
    if (targetExisted) mkdirSync(targetDir, { recursive: true, mode: 0o700 });
    for (const d of createdDirs) rmSync(d, { recursive: true, force: true });
    throw failure;
  } finally {
    if (!keep) rmSync(workDir, { recursive: true, force: true });
  }
}

/** `latest` as PostgreSQL can be held to it: the last archived record's LSN (see RunRestoreOptions.strictLatest). */
function latestAsLsn(plan: RestorePlan): RestorePlan['recovery'] {
  const r = plan.reach;
  if (r.lastRecordLsn < r.backup.stop_lsn) return { target: { kind: 'immediate' }, inclusive: undefined, translated: `latest: no record follows the consistency point of backup ${r.backup.id}` };
  const lsn = formatLsn(r.lastRecordLsn);
  return { target: { kind: 'lsn', lsn }, inclusive: true, translated: `latest: replay through the last archived record at ${lsn}, so WAL that cannot be read fails the restore` };
}

function dropRecoverySettings(file: string, id: string, keys: string[]): void {
  const lines = readFileSync(file, 'utf8').split('\n');
  const at = lines.indexOf(`# pitrd restore ${id}`);
  if (at < 0) return;
  let end = at + 1;
  while (end < lines.length && keys.some((k) => lines[end]!.startsWith(`${k} = `))) end++;
  lines.splice(at, end - at);
  writeFileSync(file, lines.join('\n'));
}

function readLog(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function describeTarget(o: RecoveryOptions): string {
  const t = o.target;
  return t.kind === 'time' ? `time ${t.time}` : t.kind === 'lsn' ? `LSN ${t.lsn}` : t.kind === 'xid' ? `xid ${t.xid}` : t.kind === 'name' ? `restore point "${t.name}"` : t.kind;
}
