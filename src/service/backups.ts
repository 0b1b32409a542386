/**
 * Base backups and retention of the daemon's databases: one basebackup service per database
 * (its cron schedule, its lock, its progress) and one retention schedule per database. Services
 * follow the database list (register, delete, PITR on/off) through `sync()`.
 *
 * A database with PITR enabled takes PITR backups (no WAL inside; complete once the receiver's
 * archive holds their WAL); without PITR they carry their WAL and restore on their own.
 */
import type { Logger } from 'pino';
import type { BackupDownloadView, BackupService as BackupRoutesService, BackupView, RetentionRunView } from '../api/backups/index.js';
import { createBackupService, type BackupService, type StartedBackup } from '../basebackup/index.js';
import { DATABASE_DEFAULTS, type Config, type DatabaseConfig } from '../config/index.js';
import { errorMessage, isPitrdError, PitrdError, publicRecordError, loggedError } from '../errors.js';
import type { BackupRecord, DatabaseRef, Repository } from '../repository/index.js';
import { policyFromConfig, runExpiry, scheduleRetention, type RetentionSchedule } from '../retention/index.js';
import { entryConnection, entryKey, type DatabaseEntry } from './entry.js';

/** Signs a download URL for a store key: presigned S3 or the daemon-served fs URL. */
export type UrlSigner = (key: string, expiresInSeconds: number, request?: LinkRequest) => Promise<{ url: string; expiresAt: Date }>;

/** What the request that asks for a link tells about how the client reached the daemon. */
export interface LinkRequest {
  host?: string | undefined;
}

export const DOWNLOAD_URL_TTL_S = 3600;

interface Protected {
  entry: DatabaseEntry;
  /** The PITR mode its service was built with: a change rebuilds the service. */
  pitr: boolean;
  service: BackupService;
  retention: RetentionSchedule | null;
  /** The last backup started through the API. */
  lastStarted?: StartedBackup;
}

export interface BackupManagerOptions {
  config: Config;
  repo: Repository;
  logger: Logger;
  /** Start cron schedules (off in tests that drive backups by hand). */
  schedules?: boolean;
  /**
   * Called when the set of completed backups of a database may have changed (one finished, was
   * deleted or expired): the daemon drops its cached recovery window, so the next status request
   * shows it.
   */
  onCatalogChange?: (database: DatabaseRef) => void;
}

export class BackupManager implements BackupRoutesService {
  private readonly dbs = new Map<string, Protected>();
  private signer: UrlSigner | null = null;

  constructor(private readonly opts: BackupManagerOptions) {}

  setSigner(signer: UrlSigner): void {
    this.signer = signer;
  }

  /** Reconcile services with the current databases. Removed ones are stopped (running backups interrupted). */
  async sync(entries: readonly DatabaseEntry[]): Promise<void> {
    const seen = new Set<string>();
    for (const e of entries) {
      seen.add(entryKey(e.project, e.name));
      const cur = this.dbs.get(entryKey(e.project, e.name));
      if (cur && cur.entry === e && cur.pitr === e.pitr.enabled) continue;
      // Keep a running backup: it finishes in the mode it started; refresh() rebuilds after it.
      if (cur && cur.service.running().length > 0) continue;
      if (cur) await this.stopOne(cur);
      this.dbs.set(entryKey(e.project, e.name), this.build(e));
    }
    for (const [key, p] of this.dbs) {
      if (seen.has(key)) continue;
      this.dbs.delete(key);
      await this.stopOne(p);
    }
  }

  /** Stop schedules; running backups are aborted and recorded as interrupted. */
  async stop(): Promise<void> {
    const all = [...this.dbs.values()];
    this.dbs.clear();
    await Promise.all(all.map((p) => this.stopOne(p)));
  }

  /**
   * For metrics and health: running backups and the newest completed one per database.
   * `listError`: the backups could not be listed (then `lastCompletedAt` is unknown, not "none").
   */
  async observe(): Promise<Array<{ project: string; name: string; running: boolean; lastCompletedAt: number | null; listError: PitrdError | null }>> {
    const out = [];
    for (const p of [...this.dbs.values()]) await this.refresh(p);
    for (const p of this.dbs.values()) {
      let last: number | null = null;
      let listError: PitrdError | null = null;
      try {
        for (const b of await this.opts.repo.database(p.entry).backups.list()) {
          if (b.status !== 'completed' || b.stop_time === null) continue;
          last = Math.max(last ?? 0, Date.parse(b.stop_time));
        }
      } catch (err) {
        last = null;
        listError = isPitrdError(err) ? err : new PitrdError('STORAGE_ERROR', errorMessage(err), { cause: err, retryable: true });
        this.opts.logger.warn({ project: p.entry.project, database: p.entry.name, err: loggedError(err) }, 'cannot list backups for metrics');
      }
      out.push({ project: p.entry.project, name: p.entry.name, running: p.service.running().length > 0, lastCompletedAt: last, listError });
    }
    return out;
  }

  // --- routes ---

  async list(projectId: string, name: string): Promise<BackupView[]> {
    const p = this.protectedDb(projectId, name);
    const views = (await this.opts.repo.database(p.entry).backups.list()).map((b) => this.view(p, b));
    const running = p.service.progress(name);
    // Between start() and the first backup.json write the running backup exists only in memory.
    if (running && !views.some((v) => v.id === running.backupId)) views.push(this.pendingView(p));
    return views;
  }

  async create(projectId: string, name: string, label: string | null): Promise<BackupView> {
    const p = await this.refresh(this.protectedDb(projectId, name));
    let started: StartedBackup;
    try {
      started = p.service.start(name, { type: 'manual', label });
    } catch (err) {
      // backup.json says completed/failed a moment before the service releases its lock: a
      // client that polled until then and asks again must not get BACKUP_IN_PROGRESS for it.
      const prev = p.lastStarted;
      if (!isPitrdError(err, 'BACKUP_IN_PROGRESS') || !prev || !(await this.finished(p.entry, prev.id))) throw err;
      await prev.done.catch(() => undefined);
      started = p.service.start(name, { type: 'manual', label });
    }
    p.lastStarted = started;
    started.done.then(
      (rec) => {
        this.opts.onCatalogChange?.(p.entry);
        this.opts.logger.info({ project: projectId, database: name, backup: rec.id, stored_size: rec.stored_size }, 'base backup completed');
      },
      (err: unknown) => this.opts.logger.warn({ project: projectId, database: name, backup: started.id, err: loggedError(err) }, 'base backup failed'),
    );
    return this.pendingView(p, started.id, label);
  }

  async get(projectId: string, name: string, backupId: string): Promise<BackupView> {
    const p = this.protectedDb(projectId, name);
    const rec = await this.opts.repo.database(p.entry).backups.get(backupId);
    // backup.json turns completed a moment before the service's promise settles: a client that
    // sees it completed here must not then read a window cached from before it.
    if (rec?.status === 'completed') this.opts.onCatalogChange?.(p.entry);
    if (rec) return this.view(p, rec);
    if (p.service.progress(name)?.backupId === backupId) return this.pendingView(p);
    throw notFound(name, backupId);
  }

  async download(projectId: string, name: string, backupId: string, request?: LinkRequest): Promise<BackupDownloadView> {
    const p = this.protectedDb(projectId, name);
    const backups = this.opts.repo.database(p.entry).backups;
    const rec = await backups.get(backupId);
    if (!rec) throw notFound(name, backupId);
    if (rec.status !== 'completed') {
      throw new PitrdError('CONFLICT', `backup ${backupId} of database "${name}" is ${rec.status}; only completed backups can be downloaded`, { context: { backup_id: backupId, status: rec.status } });
    }
    if (!this.signer) throw new PitrdError('INTERNAL_ERROR', 'download URLs are not available before the API listens');
    const files = [];
    let expiresAt: Date | null = null;
    for (const f of rec.files) {
      const s = await this.signer(backups.dataKey(rec.id, f.name), DOWNLOAD_URL_TTL_S, request);
      expiresAt ??= s.expiresAt;
      files.push({ name: f.name, url: s.url, size_bytes: f.stored_size, original_size_bytes: f.size, sha256: f.sha256 });
    }
    const base = files.find((f) => f.name.startsWith('base.tar')) ?? files[0];
    if (!base || !expiresAt) throw new PitrdError('INTERNAL_ERROR', `backup ${backupId} is completed but lists no data objects`);
    return { download_url: base.url, expires_at: expiresAt.toISOString(), compression: rec.compression, files };
  }

  async remove(projectId: string, name: string, backupId: string, force: boolean): Promise<{ id: string; deleted: true }> {
    const p = this.protectedDb(projectId, name);
    if (p.service.progress(name)?.backupId === backupId) {
      throw new PitrdError('CONFLICT', `backup ${backupId} of database "${name}" is running; wait for it to finish before deleting it`, { context: { backup_id: backupId } });
    }
    // The pinned rule and the commit order (backup.json first) are BackupStore's.
    const rec = await this.opts.repo.database(p.entry).backups.deleteRequested(backupId, { force });
    this.opts.onCatalogChange?.(p.entry);
    this.opts.logger.info({ project: projectId, database: name, backup: backupId, forced: force && rec.pinned }, 'backup deleted');
    return { id: backupId, deleted: true };
  }

  async runRetention(projectId: string, name: string, dryRun: boolean): Promise<RetentionRunView> {
    const p = this.protectedDb(projectId, name);
    if (!dryRun && p.retention) return (await p.retention.runNow()) as RetentionRunView;
    return this.expire(p.entry, dryRun);
  }

  // --- internals ---

  /** Rebuild a service whose PITR mode changed while it was running a backup (sync skipped it). */
  private async refresh(p: Protected): Promise<Protected> {
    if (p.pitr === p.entry.pitr.enabled || p.service.running().length > 0 || this.dbs.get(entryKey(p.entry.project, p.entry.name)) !== p) return p;
    const next = this.build(p.entry);
    this.dbs.set(entryKey(p.entry.project, p.entry.name), next);
    await this.stopOne(p);
    return next;
  }

  private async finished(ref: DatabaseRef, id: string): Promise<boolean> {
    const rec = await this.opts.repo.database(ref).backups.get(id);
    return rec !== null && rec.status !== 'pending' && rec.status !== 'running';
  }

  private protectedDb(projectId: string, name: string): Protected {
    const p = this.dbs.get(entryKey(projectId, name));
    if (!p) {
      throw new PitrdError('DATABASE_NOT_FOUND', `database "${name}" not found in project ${projectId}`, { context: { project_id: projectId, name } });
    }
    return p;
  }

  private configOf(e: DatabaseEntry): DatabaseConfig | null {
    return e.source === 'config' ? (this.opts.config.databases.find((d) => d.project === e.project && d.name === e.name) ?? null) : null;
  }

  private expire(e: DatabaseEntry, dryRun: boolean): Promise<RetentionRunView> {
    const cfg = this.configOf(e);
    const policy = policyFromConfig({
      pitr: { ...(cfg?.pitr ?? { enabled: e.pitr.enabled, synchronous: DATABASE_DEFAULTS.pitr.synchronous }), retention_days: e.pitr.retention_days },
      retention: cfg?.retention ?? { ...DATABASE_DEFAULTS.retention },
    });
    const run = runExpiry(this.opts.repo, e, policy, { dryRun });
    if (!dryRun) void run.finally(() => this.opts.onCatalogChange?.(e)).catch(() => undefined);
    return run;
  }

  private build(e: DatabaseEntry): Protected {
    const cfg = this.configOf(e);
    const service = createBackupService({
      repository: this.opts.repo,
      databases: {
        [e.name]: {
          connection: { ...entryConnection(e), database: e.dbname },
          schedule: cfg?.backup.schedule ?? DATABASE_DEFAULTS.backup.schedule,
          pitr: e.pitr.enabled,
          retentionDays: e.pitr.retention_days,
          project: e.project,
        },
      },
      onScheduledError: (database, err) => this.opts.logger.error({ project: e.project, database, err: loggedError(err) }, 'scheduled base backup failed'),
    });
    let retention: RetentionSchedule | null = null;
    if (this.opts.schedules !== false) {
      service.startSchedules();
      retention = scheduleRetention(
        cfg?.retention.schedule ?? DATABASE_DEFAULTS.retention.schedule,
        async () => {
          try {
            const r = await this.expire(e, false);
            this.opts.logger.info({ project: e.project, database: e.name, deleted_backups: r.deleted.backups, deleted_wal_segments: r.deleted.wal_segments }, 'retention run finished');
            return r;
          } catch (err) {
            this.opts.logger.error({ project: e.project, database: e.name, err: loggedError(err) }, 'retention run failed');
            throw err;
          }
        },
        { name: `retention:${entryKey(e.project, e.name)}` },
      );
    }
    return { entry: e, pitr: e.pitr.enabled, service, retention };
  }

  private async stopOne(p: Protected): Promise<void> {
    await p.retention?.stop().catch(() => undefined);
    await p.service.stop();
  }

  private view(p: Protected, b: BackupRecord): BackupView {
    const prog = p.service.progress(p.entry.name);
    // backup.json says completed/failed a moment before the service forgets the progress.
    const running = prog?.backupId === b.id && (b.status === 'pending' || b.status === 'running') ? prog : null;
    return {
      id: b.id,
      type: b.type,
      status: b.status,
      label: b.label,
      size_bytes: b.stored_size,
      original_size_bytes: b.original_size,
      created_at: b.created_at,
      expires_at: b.expires_at,
      start_lsn: b.start_lsn,
      stop_lsn: b.stop_lsn,
      stop_time: b.stop_time,
      timeline: b.timeline,
      pinned: b.pinned,
      // backup.json is loose: the basebackup runner adds wal_included.
      wal_included: typeof b['wal_included'] === 'boolean' ? b['wal_included'] : null,
      error: publicRecordError(b),
      progress: running ? { phase: running.phase, bytes_done: running.bytesDone, bytes_total_estimate: running.bytesTotalEstimate, current_archive: running.currentArchive } : null,
    };
  }

  /** The running backup before its backup.json exists (or the one just started). */
  private pendingView(p: Protected, id?: string, label: string | null = null): BackupView {
    const prog = p.service.progress(p.entry.name);
    const backupId = id ?? prog?.backupId;
    if (!backupId) throw new PitrdError('INTERNAL_ERROR', `no running backup of database "${p.entry.name}"`);
    return {
      id: backupId,
      type: 'manual',
      status: 'pending',
      label,
      size_bytes: null,
      original_size_bytes: null,
      created_at: prog?.startedAt ?? new Date().toISOString(),
      expires_at: null,
      start_lsn: null,
      stop_lsn: null,
      stop_time: null,
      timeline: null,
      pinned: false,
      wal_included: null,
      error: null,
      progress: prog && prog.backupId === backupId ? { phase: prog.phase, bytes_done: prog.bytesDone, bytes_total_estimate: prog.bytesTotalEstimate, current_archive: prog.currentArchive } : null,
    };
  }
}

function notFound(name: string, backupId: string): PitrdError {
  return new PitrdError('BACKUP_NOT_FOUND', `backup ${backupId} of database "${name}" not found`, { context: { name, backup_id: backupId } });
}
