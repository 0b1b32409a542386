/**
 * Restores run by the daemon (the API's RestoreService), into a directory under the daemon's
 * restore root, recorded in the repository's restores/{id}.json. src/restore's three steps: the
 * request is answered after prepareRestore (recovery window, WAL continuity, backup, empty target
 * directory, disk room: refused before anything is written) and recordRestore; executeRestore
 * runs in the background. On shutdown a running restore is stopped and recorded as interrupted.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import type { Logger } from 'pino';
import type { RestoreProgressView, RestoreRequest, RestoreService, RestoreView } from '../api/restores/index.js';
import { isPitrdError, PitrdError, publicRecordError, loggedError } from '../errors.js';
import type { Repository, RestoreRecord } from '../repository/index.js';
import { executeRestore, prepareRestore, recordRestore, type PlanCatalog, type PreparedRestore, type RecoveryTarget, type RestoreResult, type RunRestoreOptions } from '../restore/index.js';
import type { DatabaseEntry } from './entry.js';
import { pgIsRunning, pgStop } from '../postgres/cluster/index.js';
import { defaultRestoreDir, ensureOwnedDir, resolveTargetDir, stateDir } from './restore-root.js';
import { parseTargetBody, parseTargetBodyWithEvent, type RestoreOrder } from './restore-target.js';
import { findEvent } from '../catalog/index.js';

export interface RestoreManagerOptions {
  repo: Repository;
  /** The database, or DATABASE_NOT_FOUND (ProtectedDatabases.lookup). */
  lookup: (projectId: string, name: string) => DatabaseEntry;
  root: string;
  logger: Logger;
  /** Where plans read the catalog (the daemon's catalog thread, as the API's window); default this thread. */
  catalog?: PlanCatalog;
  /** How long shutdown waits for a restore to notice it was stopped (default 30 s). */
  interruptWaitMs?: number;
  /** Config `restores`: concurrent restores per database and in total, disk to keep free. */
  limits?: RestoreLimits;
}

export interface RestoreLimits {
  maxPerDatabase: number;
  maxTotal: number;
  minFreeBytes: number;
}

/** Who runs a restore: the restore routes, or a branch, drill or managed instance that takes its result (the server) over. */
export type RestoreOwner = 'restore' | 'branch' | 'drill' | 'instance';

/** Branches hold a server and a data directory too: the BranchManager counts its own (not those being created, which are restores here). */
export type BranchCounter = (project?: string, database?: string) => number;

/** A restore this process runs; kept while it runs, and while a 'running' restore's server is up. */
interface Job {
  id: string;
  project: string;
  database: string;
  mode: 'stopped' | 'running';
  targetDir: string;
  /** Settles when executeRestore does; never rejects. */
  done: Promise<void>;
  settled: boolean;
  result: RestoreResult | null;
  /** A branch takes the result over; the manager forgets the job once it settles. */
  forBranch: boolean;
  interrupted: boolean;
  connectionUri: string | null;
  progress: RestoreProgressView | null;
}

/** Fold one src/restore progress event into what the API shows (counters persist across phases). */
function foldProgress(prev: RestoreProgressView | null, ev: Record<string, unknown>): RestoreProgressView {
  const num = (k: string, old: number | null) => (typeof ev[k] === 'number' ? (ev[k] as number) : old);
  return {
    phase: typeof ev.phase === 'string' ? ev.phase : (prev?.phase ?? 'plan'),
    bytes_done: num('bytes_done', prev?.bytes_done ?? null),
    bytes_total: num('bytes_total', prev?.bytes_total ?? null),
    segments_applied: num('segments_applied', prev?.segments_applied ?? null),
    segments_total: num('segments_total', prev?.segments_total ?? null),
    replay_lsn: typeof ev.replay_lsn === 'string' ? ev.replay_lsn : (prev?.replay_lsn ?? null),
  };
}

export interface LaunchedRestore {
  record: RestoreRecord;
  /** The result of the background run (the branch keeps the server); rejects when it fails. */
  result: Promise<RestoreResult>;
}

/** A 'running' restore's server: its data directory and runRestore's work directory. */
interface LeftRunning {
  dir: string;
  work_dir: string | null;
}

export const INTERRUPTED_MESSAGE = 'interrupted: the daemon stopped while this restore ran; its partial data directory was removed';

export class RestoreManager implements RestoreService {
  private readonly jobs = new Map<string, Job>();
  /**
   * Target directories of restores from the request on (before their job exists) to their end,
   * with the project/database they restore: what the limits count.
   */
  private readonly reserved = new Map<string, string>();
  /** DELETEs in flight, by restore id: a second one waits for the first. */
  private readonly removing = new Map<string, Promise<RestoreView>>();
  private stopping = false;
  /** Set by the BranchManager once it exists. */
  countBranches: BranchCounter = () => 0;

  constructor(private readonly opts: RestoreManagerOptions) {}

  get root(): string {
    return this.opts.root;
  }

  /**
   * Servers of 'running' restores are this process's children in all but name: a daemon that
   * crashed left them up with nothing to stop them. Stop those recorded in the root's list
   * (called once when the daemon starts).
   */
  async stopLeftRunning(): Promise<void> {
    // Before the state directory existed the list lay in the root itself.
    const legacy = join(this.opts.root, 'running-restores.json');
    for (const { dir, work_dir } of [...this.readLeftRunning(legacy), ...this.readLeftRunning()]) {
      if (await pgIsRunning(dir)) {
        await pgStop(dir);
        this.opts.logger.warn({ target_dir: dir }, 'stopped the server of a restore a previous daemon left running (its data directory is kept)');
      }
      // Its log and socket directory: runRestore's stopServer would have removed it.
      if (work_dir !== null) rmSync(work_dir, { recursive: true, force: true });
    }
    this.writeLeftRunning([]);
    rmSync(legacy, { force: true });
  }

  async start(projectId: string, name: string, req: RestoreRequest): Promise<RestoreView> {
    // A malformed target is refused first, before the database is even looked up; an event
    // (before_event) is looked up in the database's event index.
    const fallback: RecoveryTarget | null = req.defaultTarget ? { kind: req.defaultTarget } : null;
    const early = req.target.before_event === undefined ? parseTargetBody(req.target, fallback) : null;
    const e = this.opts.lookup(projectId, name);
    const db = this.opts.repo.database(e);
    const order: RestoreOrder = {
      ...(early ?? (await parseTargetBodyWithEvent(req.target, fallback, async (id, as) => (await findEvent(db, id, as)).restore_target))),
      mode: req.mode,
      ...(req.backupId !== undefined ? { backupId: req.backupId } : {}),
    };
    const targetDir = req.targetDir !== undefined ? resolveTargetDir(this.opts.root, e.project, req.targetDir) : defaultRestoreDir(this.opts.root, e.project, e.name);
    const { record } = await this.launch(e, order, targetDir, 'restore');
    return this.view(record);
  }

  /**
   * Check and start a restore; resolves with its first record, or rejects with why it was
   * refused (nothing written then). Used by the restore routes and by branches.
   */
  async launch(e: DatabaseEntry, req: RestoreOrder, targetDir: string, owner: RestoreOwner): Promise<LaunchedRestore> {
    const forBranch = owner !== 'restore';
    if (this.stopping) throw new PitrdError('CONFLICT', 'the daemon is shutting down; restore again once it is back', { context: { database: e.name } });
    // Two requests naming one directory would both find it empty and extract into it together.
    if (this.reserved.has(targetDir)) throw new PitrdError('CONFLICT', `another restore is using this target_dir; choose another one`, { context: { target_dir: targetDir } });
    this.assertWithinLimits(e);
    this.reserved.set(targetDir, dbKey(e.project, e.name));
    try {
      return await this.launchReserved(e, req, targetDir, forBranch, owner === 'branch');
    } catch (err) {
      this.reserved.delete(targetDir);
      throw err;
    }
  }

  private async launchReserved(e: DatabaseEntry, req: RestoreOrder, targetDir: string, forBranch: boolean, isBranch: boolean): Promise<LaunchedRestore> {
    ensureOwnedDir(this.opts.root);
    const job: Job = { id: '', project: e.project, database: e.name, mode: req.mode, targetDir, done: Promise.resolve(), settled: false, result: null, forBranch, interrupted: false, connectionUri: null, progress: null };
    const options: RunRestoreOptions = {
      db: this.opts.repo.database(e),
      repo: this.opts.repo,
      ...(this.opts.catalog ? { catalog: this.opts.catalog } : {}),
      targetDir,
      target: req.target,
      mode: req.mode,
      onProgress: (ev) => {
        job.progress = foldProgress(job.progress, ev as unknown as Record<string, unknown>);
        req.onProgress?.(ev);
      },
      ...(req.strictLatest ? { strictLatest: true } : {}),
      ...(req.localTrust ? { localTrust: true } : {}),
      ...(req.inclusive !== undefined ? { inclusive: req.inclusive } : {}),
      ...(req.timeline !== undefined ? { timeline: req.timeline } : {}),
      ...(req.backupId !== undefined ? { backupId: req.backupId } : {}),
      // Restores and branches (which launch through here) to `latest` also replay what the
      // receiver has flushed into its spool but not yet archived.
      ...(req.target.kind === 'latest' && e.receiver && !req.strictLatest ? { spoolDir: e.receiver.spoolDir } : {}),
      ...(this.opts.limits ? { minFreeBytes: this.opts.limits.minFreeBytes } : {}),
    };
    // Admission: the request is answered once the restore is checked and recorded; a refusal
    // comes back with its code and nothing written. The work itself goes on in the background.
    let prepared: PreparedRestore;
    let record: RestoreRecord;
    try {
      prepared = await prepareRestore(options);
      record = await recordRestore(options, prepared, { ...req.recordFields, mode: req.mode, target_dir: targetDir, project_id: e.project, ...(isBranch ? { branch: true } : {}) });
    } catch (err) {
      throw this.refusal(e, err);
    }
    const run = executeRestore(options, prepared, record);
    job.id = record.id;
    job.done = run.then(
      (res) => {
        job.result = res;
        if (res.port !== undefined) job.connectionUri = `postgresql://${encodeURIComponent(e.user)}@127.0.0.1:${res.port}/${encodeURIComponent(e.dbname)}`;
        if (res.stopServer && !forBranch) this.writeLeftRunning([...this.readLeftRunning(), { dir: targetDir, work_dir: res.workDir }]);
        this.opts.logger.info({ database: e.name, restore: record.id, target_dir: targetDir, mode: req.mode, wal_files_applied: res.record.wal_files_applied }, 'restore completed');
      },
      (err: unknown) => this.opts.logger.warn({ database: e.name, restore: record.id, err: loggedError(err) }, job.interrupted ? 'restore interrupted' : 'restore failed'),
    ).finally(() => {
      job.settled = true;
      // A 'running' restore's directory stays in use while its server runs; a branch's server
      // is the BranchManager's from now on (counted there).
      if (!job.result?.stopServer || forBranch) this.reserved.delete(targetDir);
      // Kept only while there is something to stop later: a 'running' restore's server.
      if (forBranch || !job.result?.stopServer) this.jobs.delete(job.id);
    });
    this.jobs.set(record.id, job);
    this.opts.logger.info({ database: e.name, restore: record.id, target: req.target, backup: record.backup_id, target_dir: targetDir, mode: req.mode }, 'restore started');
    return { record, result: run };
  }

  /**
   * RESTORE_LIMIT_REACHED when one more restore would pass config `restores`: restores in
   * progress and restored servers left running, here, plus the BranchManager's branches.
   */
  private assertWithinLimits(e: DatabaseEntry): void {
    const l = this.opts.limits;
    if (!l) return;
    const key = dbKey(e.project, e.name);
    const mine = [...this.reserved.values()].filter((k) => k === key).length + this.countBranches(e.project, e.name);
    if (mine >= l.maxPerDatabase) {
      throw new PitrdError('RESTORE_LIMIT_REACHED', `database "${e.name}" already has ${mine} restores in progress, restored servers left running or branches (limit restores.max_per_database = ${l.maxPerDatabase}); delete one (DELETE …/pitr/restores/:id or …/branches/:id) or wait for one to finish`, {
        context: { database: e.name, active: mine, limit: l.maxPerDatabase },
      });
    }
    const total = this.reserved.size + this.countBranches();
    if (total >= l.maxTotal) {
      throw new PitrdError('RESTORE_LIMIT_REACHED', `the daemon already has ${total} restores in progress, restored servers left running or branches (limit restores.max_total = ${l.maxTotal}); try again once one is deleted or finished`, {
        context: { active: total, limit: l.maxTotal },
      });
    }
  }

  /**
   * DELETE …/pitr/restores/:id: stop the server of a restore left running and remove its data
   * directory (tablespaces too); the record stays, with removed_at. Again on a removed restore:
   * the same answer. CONFLICT while it still runs, for a branch's restore (delete the branch),
   * and for a restore this daemon did not write (no target directory under its root).
   */
  remove(projectId: string, name: string, restoreId: string): Promise<RestoreView> {
    const inFlight = this.removing.get(restoreId);
    if (inFlight) return inFlight;
    const p = this.removeOnce(projectId, name, restoreId).finally(() => this.removing.delete(restoreId));
    this.removing.set(restoreId, p);
    return p;
  }

  private async removeOnce(projectId: string, name: string, restoreId: string): Promise<RestoreView> {
    const e = this.opts.lookup(projectId, name);
    const store = this.opts.repo.database(e).restores;
    const rec = await store.get(restoreId);
    const raw = (rec ?? {}) as Record<string, unknown>;
    if (!rec || (typeof raw.project_id === 'string' && raw.project_id !== e.project)) {
      throw new PitrdError('RESTORE_NOT_FOUND', `restore ${restoreId} of database "${e.name}" not found`, { context: { name: e.name, restore_id: restoreId } });
    }
    if (typeof raw.removed_at === 'string') return this.view(rec);
    const dir = typeof raw.target_dir === 'string' ? raw.target_dir : null;
    const conflict = (why: string) => new PitrdError('CONFLICT', `restore ${restoreId} ${why}`, { context: { restore_id: restoreId } });
    if (raw.branch === true || (dir !== null && dir.startsWith(join(this.opts.root, 'branches') + sep))) throw conflict('belongs to a branch: delete the branch instead');
    if (typeof raw.drill === 'string') throw conflict(`belongs to restore drill ${raw.drill}, which removes its scratch directory itself`);
    if (typeof raw.instance === 'string') throw conflict(`made managed instance ${raw.instance}: its data directory is that database's now (delete the database instead)`);
    const job = this.jobs.get(restoreId);
    if ((job && !job.settled) || (!job && (rec.status === 'running' || rec.status === 'pending'))) throw conflict('is still running; delete it once it has completed or failed');
    if (dir === null || !dir.startsWith(resolve(this.opts.root) + sep)) throw conflict("was not written by this daemon (no data directory under its restore root): there is nothing here to remove");
    if (job?.result?.stopServer) {
      await job.result.stopServer().catch((err: unknown) => this.opts.logger.warn({ restore: restoreId, err: loggedError(err) }, 'could not stop the restored server'));
      this.jobs.delete(restoreId);
    }
    await pgStop(dir).catch(() => undefined);
    if (await pgIsRunning(dir)) {
      throw new PitrdError('INTERNAL_ERROR', `the server of restore ${restoreId} did not stop; its data directory is kept`, { context: { restore_id: restoreId } });
    }
    this.writeLeftRunning(this.readLeftRunning().filter((d) => d.dir !== dir));
    rmSync(dir, { recursive: true, force: true });
    rmSync(`${dir}.tblspc`, { recursive: true, force: true });
    this.reserved.delete(dir);
    const saved = await store.save({ ...rec, removed_at: new Date().toISOString() });
    this.opts.logger.info({ database: e.name, restore: restoreId, target_dir: dir }, 'restore removed: server stopped, data directory deleted');
    return this.view(saved);
  }

  /** CONFLICT while a restore of the database runs (deleting its data would break it). */
  assertIdle(projectId: string, name: string): void {
    const running = [...this.jobs.values()].filter((j) => j.project === projectId && j.database === name && !j.settled);
    if (running.length) {
      throw new PitrdError('CONFLICT', `restore ${running.map((j) => j.id).join(', ')} of database "${name}" is running; wait for it to finish`, {
        context: { name, restores: running.map((j) => j.id) },
      });
    }
  }

  async list(projectId: string, name: string): Promise<RestoreView[]> {
    const e = this.opts.lookup(projectId, name);
    return (await this.opts.repo.database(e).restores.list()).map((r) => this.view(r));
  }

  async get(projectId: string, name: string, restoreId: string): Promise<RestoreView> {
    const e = this.opts.lookup(projectId, name);
    const rec = await this.opts.repo.database(e).restores.get(restoreId);
    if (!rec) throw new PitrdError('RESTORE_NOT_FOUND', `restore ${restoreId} of database "${e.name}" not found`, { context: { name: e.name, restore_id: restoreId } });
    return this.view(rec);
  }

  /**
   * Shutdown: refuse new restores; stop the server of each running one (executeRestore then fails
   * and removes its partial directory) and record it as interrupted; stop the servers of
   * 'running' restores that completed (their data directories stay, ready to start).
   */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all([...this.jobs.values()].map((j) => this.interrupt(j)));
  }

  private async interrupt(j: Job): Promise<void> {
    if (!j.settled) {
      j.interrupted = true;
      const deadline = Date.now() + (this.opts.interruptWaitMs ?? 30_000);
      // executeRestore has no abort: while it extracts there is nothing to stop; as soon as its
      // server is up, stopping it ends the recovery (executeRestore then cleans up and fails).
      while (!j.settled && Date.now() < deadline) {
        await pgStop(j.targetDir).catch(() => undefined);
        await Promise.race([j.done, new Promise((r) => setTimeout(r, 200))]);
      }
      if (!j.result) {
        await this.markInterrupted(j);
        return;
      }
    }
    if (j.result?.stopServer && !j.forBranch) {
      await j.result.stopServer().catch((err: unknown) => this.opts.logger.warn({ restore: j.id, err: loggedError(err) }, 'could not stop the restored server'));
      this.writeLeftRunning(this.readLeftRunning().filter((d) => d.dir !== j.targetDir));
      this.reserved.delete(j.targetDir);
      this.opts.logger.info({ restore: j.id, target_dir: j.targetDir }, 'restored server stopped (its data directory is kept)');
    }
    this.jobs.delete(j.id);
  }

  private async markInterrupted(j: Job): Promise<void> {
    const store = this.opts.repo.database({ project: j.project, name: j.database }).restores;
    try {
      const rec = await store.get(j.id);
      if (rec) await store.save({ ...rec, status: 'failed', interrupted: true, error: INTERRUPTED_MESSAGE, error_public: INTERRUPTED_MESSAGE, completed_at: new Date().toISOString() });
      // Still extracting at the deadline: the process is going away; leave no partial cluster.
      if (!j.settled && existsSync(j.targetDir)) rmSync(j.targetDir, { recursive: true, force: true });
      this.opts.logger.warn({ database: j.database, restore: j.id }, 'restore recorded as interrupted');
    } catch (err) {
      this.opts.logger.error({ database: j.database, restore: j.id, err: loggedError(err) }, 'could not record the restore as interrupted');
    }
    this.jobs.delete(j.id);
  }

  /** In the daemon's state directory, which no request's target_dir can name. */
  private get leftRunningFile(): string {
    return join(stateDir(this.opts.root), 'running-restores.json');
  }

  private readLeftRunning(file = this.leftRunningFile): LeftRunning[] {
    try {
      const v: unknown = JSON.parse(readFileSync(file, 'utf8'));
      if (!Array.isArray(v)) return [];
      return v.flatMap((d: { dir?: unknown; work_dir?: unknown }) => (typeof d?.dir === 'string' ? [{ dir: d.dir, work_dir: typeof d.work_dir === 'string' ? d.work_dir : null }] : []));
    } catch {
      return [];
    }
  }

  private writeLeftRunning(dirs: LeftRunning[]): void {
    try {
      if (dirs.length === 0 && !existsSync(this.leftRunningFile)) return;
      mkdirSync(stateDir(this.opts.root), { recursive: true, mode: 0o700 });
      const tmp = `${this.leftRunningFile}.tmp`;
      writeFileSync(tmp, JSON.stringify(dirs), { mode: 0o600 });
      renameSync(tmp, this.leftRunningFile);
    } catch (err) {
      this.opts.logger.error({ err: loggedError(err) }, 'could not record the running restored servers');
    }
  }

  /** A database with nothing archived yet has no window: say so in the restore's vocabulary. */
  private refusal(e: DatabaseEntry, err: unknown): unknown {
    if (isPitrdError(err, 'DATABASE_NOT_FOUND')) {
      return new PitrdError('TARGET_TIME_INVALID', `database "${e.name}" has nothing archived yet (no WAL, no base backup): there is no recovery window to restore into`, {
        cause: err,
        context: { database: e.name },
      });
    }
    return err;
  }

  view(r: RestoreRecord): RestoreView {
    const raw = r as Record<string, unknown>;
    const t = (raw.target ?? null) as { kind?: string; xid?: string } | null;
    const kind = (t?.kind ?? (r.target_lsn ? 'lsn' : r.target_name ? 'name' : r.target_time === 'latest' ? 'latest' : r.target_time ? 'time' : null)) as RestoreView['target_kind'];
    const job = this.jobs.get(r.id);
    const mode = raw.mode === 'running' || raw.mode === 'stopped' ? raw.mode : null;
    return {
      id: r.id,
      database: r.database,
      // executeRestore stores `completed` a moment before this daemon has taken its result (the
      // connection URI, the left-running list): until then the restore is still running here.
      status: raw.interrupted === true ? 'interrupted' : job && !job.settled && r.status === 'completed' ? 'running' : r.status,
      target_kind: kind,
      target_time: r.target_time,
      target_lsn: r.target_lsn,
      target_xid: typeof t?.xid === 'string' ? t.xid : null,
      target_name: r.target_name,
      backup_id: r.backup_id,
      mode,
      target_dir: typeof raw.target_dir === 'string' ? raw.target_dir : null,
      connection_uri: job && !job.forBranch && r.status === 'completed' ? job.connectionUri : null,
      wal_files_applied: r.wal_files_applied,
      progress: job && r.status === 'running' ? job.progress : null,
      started_at: r.started_at,
      completed_at: r.completed_at,
      error: publicRecordError(r),
      removed_at: typeof raw.removed_at === 'string' ? raw.removed_at : null,
    };
  }
}

const dbKey = (project: string, name: string) => `${project}/${name}`;
