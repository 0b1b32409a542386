/**
 * One base backup, start to commit: check the server, stream every archive of BASE_BACKUP through
 * the repository's transforms (compression, encryption, sha256) into `backups/{id}/`, read the
 * start/stop facts from what the server produced, make sure the WAL it needs is archived (or
 * inside base.tar), then write backup.json `completed` as the commit point.
 *
 * Nothing reaches local disk. Anything that fails before the first write leaves the repository
 * untouched; anything after leaves backup.json `failed` (or `interrupted`) with the error, and
 * no data objects.
 */
import { crashPoint } from '../crash/index.js';
import { currentOwner, ownerGone } from '../process-owner.js';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { PitrdError, errorMessage, isPitrdError, recordedError } from '../errors.js';
import type { BackupFile, BackupRecord, BackupRecordInput, BackupType, DatabaseRepository } from '../repository/index.js';
import { COMPRESSION_EXT } from '../repository/index.js';
import type { ObjectStore } from '../storage/types.js';
import { formatLsn } from '../wal/lsn.js';
import { expiresAt, newBackupId, parseBackupLabel, parseManifestWalRanges, type WalRange } from './metadata.js';
import { SqlConnection, assertSupportedVersion, takeRelationMap, type SqlConnectionParams } from '../postgres/index.js';
import type { BackupProgress } from './progress.js';
import { BaseBackupConnection, type BaseBackupResult } from '../postgres/index.js';
import { streamBaseBackup } from './archive-stream.js';
import { TarScanner, tarTerminator } from './tar.js';
import { neededSegments, waitForWalArchived, type IsWalArchived } from './wal-wait.js';

export interface PitrWalCheck {
  /** True when the segment is in the WAL archive (the receiver's WalArchive.hasSegment). */
  isWalArchived: IsWalArchived;
  /** How long to wait for the last segment after the backup ended. Default 5 minutes. */
  timeoutMs?: number;
  pollMs?: number;
}

export interface RunBackupOptions {
  /** The database's part of the repository (`repo.database(name)`). */
  database: DatabaseRepository;
  /** The store under the repository: used to remove a failed backup's partial data objects. */
  store: ObjectStore;
  connection: SqlConnectionParams;
  type?: BackupType;
  label?: string | null;
  /** Allocated by the caller when it must name the backup before it starts (BACKUP_IN_PROGRESS). */
  id?: string;
  /**
   * With PITR (WAL archived continuously), the backup carries no WAL and completes once the
   * archive holds its WAL. Without (null/absent), the WAL goes inside base.tar (pg_basebackup
   * -X fetch) so the backup restores on its own.
   */
  pitr?: PitrWalCheck | null;
  fastCheckpoint?: boolean;
  retentionDays?: number;
  /** Project recorded in database.json when this is the first thing stored for the database. */
  project?: string;
  signal?: AbortSignal;
  onProgress?: (p: Readonly<BackupProgress>) => void;
}

interface StoredArchive {
  name: string;
  tablespaceOid: number | null;
  tablespacePath: string | null;
  file: Promise<BackupFile>;
  scanner: TarScanner | null;
}

export async function runBackup(opts: RunBackupOptions): Promise<BackupRecord> {
  const id = opts.id ?? newBackupId();
  const backups = opts.database.backups;
  const ext = COMPRESSION_EXT[backups.compression];
  const startedAt = new Date();
  const progress: BackupProgress = {
    backupId: id, database: opts.database.name, phase: 'starting', bytesDone: 0, bytesTotalEstimate: null, currentArchive: null, startedAt: startedAt.toISOString(),
  };
  const report = () => opts.onProgress?.({ ...progress });
  const appName = `pitrd ${id}`.slice(0, 63);

  // Preflight: every check that can fail on bad input runs before the first write.
  const sql = await SqlConnection.open(opts.connection, appName);
  let repl: BaseBackupConnection | null = null;
  let base: BackupRecordInput | null = null;
  const archives: StoredArchive[] = [];
  let manifest: Buffer | null = null;
  const onAbort = () => repl?.abort(new PitrdError('BACKUP_FAILED', `backup ${id} interrupted`));
  try {
    const facts = await sql.facts(opts.connection.user);
    const major = assertSupportedVersion(facts.serverVersionNum, `the source of database ${opts.database.name}`);
    progress.bytesTotalEstimate = facts.estimatedBytes;
    repl = await BaseBackupConnection.open(opts.connection, appName);
    const system = await repl.identifySystem();
    await recordDatabase(opts, system.systemId, facts.serverVersionNum, facts.walSegmentSize);
    if (opts.signal?.aborted) throw interrupted(id);

    base = {
      id, database: opts.database.name, type: opts.type ?? 'manual', status: 'running', label: opts.label ?? null,
      created_at: startedAt.toISOString(), compression: backups.compression,
      pg_version: major, system_identifier: system.systemId,
      wal_included: !opts.pitr, tablespaces: [],
      // Who runs it: a later backup finds this record still running after this process died.
      owner: currentOwner(),
    };
    await settleDeadBackups(opts, id);
    await backups.save(base);
    crashPoint('basebackup.after-start-record');
    report();
    // The event index's relation names at each base backup, beside the stream; a failure costs
    // names only (events then show relation files), never the backup.
    const relationMap = takeRelationMap(opts.connection, 'base_backup')
      .then((m) => opts.database.relationMaps.put(m))
      .catch(() => false);

    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const conn = repl;
    const keep = (p: Promise<BackupFile>) => {
      // A storage failure stops the server's stream too, or it would wait on backpressure forever.
      p.catch((err: unknown) => conn.abort(err instanceof Error ? err : new Error(String(err))));
      return p;
    };
    progress.phase = 'streaming';
    const result: BaseBackupResult = await streamBaseBackup(
      repl,
      { label: opts.label ?? `pitrd ${id}`, fastCheckpoint: opts.fastCheckpoint ?? true, includeWal: !opts.pitr, major },
      {
        archive: (name, path) => {
          const scanner = new TarScanner({ capture: name === 'base.tar' ? ['backup_label'] : [] });
          const body = tarBody(scanner);
          // The put's pipeline reports a broken stream; after it settled, nobody else listens.
          body.on('error', () => undefined);
          const oid = /^(\d+)\.tar$/.exec(name);
          archives.push({ name, tablespaceOid: oid ? Number(oid[1]) : null, tablespacePath: path, scanner, file: keep(put(opts, id, `${name}${ext}`, body)) });
          progress.currentArchive = name;
          report();
          return body;
        },
        manifest: () => {
          const chunks: Buffer[] = [];
          const body = new PassThrough();
          // A copy: the chunks are pooled blocks, reused once the store has written them.
          body.on('data', (c: Buffer) => chunks.push(Buffer.from(c)));
          body.on('end', () => {
            manifest = Buffer.concat(chunks);
          });
          const stored = new PassThrough();
          // pipe() does not forward errors: a broken stream must fail the put, not the process.
          body.on('error', (err) => stored.destroy(err));
          stored.on('error', () => undefined);
          body.pipe(stored);
          archives.push({ name: 'backup_manifest', tablespaceOid: null, tablespacePath: null, scanner: null, file: keep(put(opts, id, `backup_manifest${ext}`, stored)) });
          progress.currentArchive = 'backup_manifest';
          report();
          return body;
        },
        progress: (done) => {
          progress.bytesDone = done;
          report();
        },
      },
    );
    progress.phase = 'finishing';
    progress.currentArchive = null;
    if (result.tablespaces.some((t) => t.sizeKb !== null)) progress.bytesTotalEstimate = result.tablespaces.reduce((s, t) => s + (t.sizeKb ?? 0) * 1024, 0);
    report();
    const files = await Promise.all(archives.map((a) => a.file));
    for (const a of archives) a.scanner?.finish();
    // Stop time: the server's clock read right after BASE_BACKUP returned, i.e. after
    // pg_backup_stop wrote the end-of-backup record; a little late, never early, so a recovery
    // window starting there is always reachable.
    const stopTime = await sql.now();

    const baseTar = archives.find((a) => a.name === 'base.tar');
    const labelText = baseTar?.scanner?.captured.get('backup_label');
    if (!labelText) throw new PitrdError('BACKUP_FAILED', `backup ${id}: base.tar holds no backup_label`, { context: { backup: id } });
    const label = parseBackupLabel(labelText.toString('utf8'));
    if (label.startLsn !== result.startLsn) {
      throw new PitrdError('BACKUP_FAILED', `backup ${id}: backup_label says start ${formatLsn(label.startLsn)}, the server said ${formatLsn(result.startLsn)}`, { context: { backup: id } });
    }
    if (!manifest) throw new PitrdError('BACKUP_FAILED', `backup ${id}: the server sent no backup_manifest`, { context: { backup: id } });
    const ranges: WalRange[] = parseManifestWalRanges(manifest);

    if (opts.pitr) {
      progress.phase = 'waiting_for_wal';
      report();
      await waitForWalArchived({
        ranges, walSegmentSize: facts.walSegmentSize, isWalArchived: opts.pitr.isWalArchived, timeoutMs: opts.pitr.timeoutMs ?? 300_000,
        ...(opts.pitr.pollMs !== undefined ? { pollMs: opts.pitr.pollMs } : {}), ...(opts.signal ? { signal: opts.signal } : {}), backupId: id,
      });
    } else {
      const inTar = new Set(baseTar!.scanner!.entries.map((e) => e.name));
      const missing = neededSegments(ranges, facts.walSegmentSize).filter((s) => !inTar.has(`pg_wal/${s.name}`));
      if (missing.length) {
        throw new PitrdError('BACKUP_FAILED', `backup ${id}: base.tar lacks WAL segment(s) ${missing.map((s) => s.name).join(', ')} needed for consistency`, { context: { backup: id } });
      }
    }

    await relationMap;
    crashPoint('basebackup.after-data');
    const completedAt = new Date();
    return await backups.save({
      ...base,
      status: 'completed',
      start_lsn: formatLsn(result.startLsn),
      stop_lsn: formatLsn(result.endLsn),
      start_time: (label.startTime ?? startedAt).toISOString(),
      stop_time: stopTime.toISOString(),
      timeline: result.startTimeline,
      stop_timeline: result.endTimeline,
      checkpoint_lsn: label.checkpointLsn === null ? null : formatLsn(label.checkpointLsn),
      original_size: files.reduce((s, f) => s + f.size, 0),
      stored_size: files.reduce((s, f) => s + f.stored_size, 0),
      files,
      manifest: `backup_manifest${ext}`,
      wal_ranges: ranges.map((r) => ({ timeline: r.timeline, start_lsn: formatLsn(r.startLsn), end_lsn: formatLsn(r.endLsn) })),
      tablespaces: archives
        .filter((a) => a.tablespaceOid !== null)
        .map((a) => ({
          oid: a.tablespaceOid,
          location: a.tablespacePath,
          object: `${a.name}${ext}`,
          size_kb: result.tablespaces.find((t) => t.oid === a.tablespaceOid)?.sizeKb ?? null,
        })),
      expires_at: expiresAt(completedAt, opts.retentionDays),
      completed_at: completedAt.toISOString(),
    });
  } catch (err) {
    const wasInterrupted = opts.signal?.aborted === true;
    repl?.abort(new PitrdError('BACKUP_FAILED', `backup ${id} failed`));
    await Promise.allSettled(archives.map((a) => a.file));
    const error = wasInterrupted
      ? interrupted(id, err)
      : isPitrdError(err)
        ? err
        : new PitrdError('BACKUP_FAILED', `backup ${id} failed: ${errorMessage(err)}`, { cause: err, context: { backup: id } });
    if (base) {
      try {
        await removeDataObjects(opts, id);
        await backups.save({ ...base, status: wasInterrupted ? 'interrupted' : 'failed', ...recordedError(error), files: [] });
      } catch {
        // Storage is failing too. The record then stays `running`, which no reader takes for a
        // restorable backup, and the original error is the one worth reporting.
      }
    }
    throw error;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    await repl?.close();
    await sql.close();
  }
}

function interrupted(id: string, cause?: unknown): PitrdError {
  const message = `backup ${id} was interrupted (cancelled or the daemon is shutting down)`;
  return new PitrdError('BACKUP_FAILED', message, { context: { backup: id }, public: message, ...(cause === undefined ? {} : { cause }) });
}

/** A tar's bytes on their way to the store: scanned as they pass, and given the end-of-archive
 * marker when the server left it out (its archives end after the last member). */
function tarBody(scanner: TarScanner): Transform {
  return new Transform({
    // Room for a few of the protocol reader's 1 MiB batches, so the socket is not paused and
    // resumed for every batch while the stages downstream catch up.
    writableHighWaterMark: 4 * 1024 * 1024,
    transform(chunk: Buffer, _enc, cb) {
      try {
        scanner.push(chunk);
        cb(null, chunk);
      } catch (err) {
        cb(err as Error);
      }
    },
    flush(cb) {
      // Truncation is checked by the caller once BASE_BACKUP succeeded (scanner.finish()); an
      // archive ended by a failure is deleted anyway.
      if (!scanner.sawEndOfArchive) this.push(tarTerminator());
      cb();
    },
  });
}

async function put(opts: RunBackupOptions, id: string, name: string, body: Readable): Promise<BackupFile> {
  const r = await opts.database.backups.putData(id, name, body);
  return { name, size: r.originalSize, stored_size: r.size, sha256: r.sha256 };
}

/** Every object of backup `id` except backup.json: a failed backup keeps only its record. */
/**
 * Backups of this database still recorded running whose process is gone (killed, or its host
 * restarted: src/process-owner.ts; only owners on this host can be told gone) never finish: they
 * are recorded `interrupted` and their data objects removed, so they are neither listed as in
 * progress forever nor kept by retention as running. Called by the next backup before it starts.
 */
async function settleDeadBackups(opts: RunBackupOptions, by: string): Promise<void> {
  for (const b of await opts.database.backups.list()) {
    if (b.status !== 'running' && b.status !== 'pending') continue;
    const owner = (b as { owner?: { pid?: unknown } }).owner;
    if (!ownerGone(owner)) continue;
    await removeDataObjects(opts, b.id);
    const message = `backup ${b.id} was interrupted: the process that ran it (pid ${String(owner?.pid)}) died before it completed; its data was removed when backup ${by} started`;
    await opts.database.backups.save({ ...b, status: 'interrupted', ...recordedError(new PitrdError('BACKUP_FAILED', message, { public: message, context: { backup: b.id } })), files: [] });
  }
}

async function removeDataObjects(opts: RunBackupOptions, id: string): Promise<void> {
  const prefix = `${opts.database.keys.backupsPrefix}${id}/`;
  const keys: string[] = [];
  for await (const o of opts.store.listAll(prefix)) if (!o.key.endsWith('/backup.json')) keys.push(o.key);
  if (keys.length) await opts.store.delete(keys);
}

/** database.json: written on first contact; a different cluster behind the same name is refused. */
async function recordDatabase(opts: RunBackupOptions, systemId: string, versionNum: number, walSegmentSize: number): Promise<void> {
  const info = await opts.database.info();
  if (info && info.system_identifier === systemId) return;
  await opts.database.saveInfo({ project: opts.project ?? 'default', system_identifier: systemId, pg_version: Math.floor(versionNum / 10000), wal_segment_size: walSegmentSize });
}
