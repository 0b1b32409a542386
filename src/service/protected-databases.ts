/**
 * The protected databases: the configuration file's plus those registered through the API (kept
 * in the repository's registry), each with its WAL receiver while PITR is enabled. Implements what
 * the database and PITR routes need, and the projects routes' DatabaseRegistry. Where a receiver
 * runs (a worker thread in the daemon) is the process's business: it comes in as a function
 * (`startReceiver`), so this file knows no thread.
 */
import type { Logger } from 'pino';
import type { DatabaseService, DatabaseView, PitrConfigView, PitrService, RegisterDatabaseInput, WalArchiveView } from '../api/databases/index.js';
import type { RecoveryWindowResponse, RecoveryWindowService } from '../api/pitr/index.js';
import type { DatabaseRegistry } from '../api/projects/index.js';
import { connectionPassword, DATABASE_DEFAULTS, sourceTls, type Config } from '../config/index.js';
import { defaultSlotName, dropInactiveSlot, projectSlotName, type SourceConnection } from '../postgres/index.js';
import { hostBinDirs, restoreBinaries } from '../postgres/cluster/index.js';
import { isStorageUnreachable, PitrdError, loggedError } from '../errors.js';
import { adoptLegacySpools, spoolDirOf, type Receiver, type ReceiverOptions, type ReceiverStatus } from '../receiver/index.js';
import type { DatabaseRef, Repository } from '../repository/index.js';
import { MajorLearner, probeRegistrationMajor } from './database-major.js';
import { entryConnection, entryKey, type DatabaseEntry } from './entry.js';
import type { DatabaseRegistryStore, RegisteredDatabase } from './registry.js';
import type { RecoveryWindows } from './window.js';

/** What a receiver is started with, besides its repository (the starter supplies that). */
export type ReceiverLaunch = Pick<ReceiverOptions, 'database' | 'project' | 'connection' | 'spoolDir' | 'slotName' | 'synchronous'>;

export interface ProtectedDatabasesOptions {
  config: Config;
  repo: Repository;
  registry: DatabaseRegistryStore;
  logger: Logger;
  now?: () => Date;
  /** Recovery windows (src/catalog); without it pitr/config shows recovery_window null. */
  windows?: RecoveryWindows;
  /** Told the current databases after start and after every mutation (base backups follow them). */
  onChange?: (entries: DatabaseEntry[]) => Promise<void>;
  /** Make (not start) a database's receiver: the daemon runs it on a worker thread (src/daemon/receiver-thread.ts). */
  startReceiver: (options: ReceiverLaunch, logger: Logger) => Receiver;
  /** server_version_num of a server being registered (default: asked over a short SQL connection). */
  serverVersion?: (conn: SourceConnection) => Promise<number>;
  /** Told after a receiver started (the daemon takes a relation map for the event index then). */
  onReceiverStarted?: (ref: DatabaseRef) => void;
}

const REGISTRY_RETRY_MS = 5_000;

export class ProtectedDatabases implements DatabaseService, PitrService, DatabaseRegistry, RecoveryWindowService {
  private readonly entries = new Map<string, DatabaseEntry>();
  private readonly configProjects = new Set<string>();
  /** Mutations (register, enable, disable, delete) run one at a time: no interleaved start/stop. */
  private queue: Promise<unknown> = Promise.resolve();
  private readonly now: () => Date;
  /** Refuses a delete while something depends on the database (its branches, a running restore). */
  private removeGuard: ((projectId: string, name: string) => void) | null = null;
  /** Reading the registry again after storage was unreachable at start. */
  private registryTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** Fills in the major of databases registered without one (./database-major.ts). */
  private readonly majors: MajorLearner;

  constructor(private readonly opts: ProtectedDatabasesOptions) {
    this.now = opts.now ?? (() => new Date());
    this.majors = new MajorLearner(opts.repo);
  }

  /** Read the configuration and the registry; start every receiver whose PITR is enabled. */
  async start(): Promise<void> {
    for (const db of this.opts.config.databases) {
      this.configProjects.add(db.project);
      const conn = db.connection;
      this.entries.set(entryKey(db.project, db.name), {
        project: db.project,
        name: db.name,
        source: 'config',
        host: conn.host,
        port: conn.port,
        user: conn.user,
        password: () => connectionPassword(conn, `databases[${db.name}].connection.password_file`),
        dbname: conn.dbname,
        tls: sourceTls(conn),
        slotName: db.slot_name,
        synchronous: db.pitr.synchronous,
        pitr: { enabled: db.pitr.enabled, retention_days: db.pitr.retention_days },
        created_at: null,
        receiver: null,
        major: null,
      });
    }
    let registered: RegisteredDatabase[] = [];
    try {
      registered = await this.opts.registry.list();
    } catch (err) {
      if (!isStorageUnreachable(err)) throw err;
      // The configuration's databases stream into their spools meanwhile.
      this.opts.logger.warn({ err: loggedError(err) }, 'storage unreachable: databases registered through the API are loaded when it answers');
      this.retryRegistry();
    }
    this.addRegistered(registered);
    await adoptLegacySpools(this.opts.config.spool_dir, (name) => this.legacyOwner(name), this.opts.logger);
    for (const e of this.entries.values()) if (e.pitr.enabled) await this.startReceiver(e);
    await this.changed();
    this.opts.logger.info({ databases: this.entries.size, receivers: [...this.entries.values()].filter((e) => e.receiver).length }, 'databases loaded');
  }

  private addRegistered(records: RegisteredDatabase[]): DatabaseEntry[] {
    const added: DatabaseEntry[] = [];
    for (const rec of records) {
      // A record from before format 2 (no slot_name) shadowed by a configuration database of the
      // same name in any project stays ignored, as it was: starting it now would share the slot.
      const shadow =
        this.entries.get(entryKey(rec.project, rec.name)) ?? (rec.slot_name === undefined ? [...this.entries.values()].find((e) => e.source === 'config' && e.name === rec.name) : undefined);
      if (shadow) {
        if (shadow.source === 'config') this.opts.logger.warn({ project: rec.project, database: rec.name }, 'registered database has the name of one in the configuration file; the configuration wins');
        continue;
      }
      const e = this.fromRecord(rec);
      this.entries.set(entryKey(rec.project, rec.name), e);
      added.push(e);
    }
    return added;
  }

  /** Read the registry again every REGISTRY_RETRY_MS until storage answers, then start its receivers. */
  private retryRegistry(): void {
    this.registryTimer = setTimeout(() => {
      this.registryTimer = null;
      void this.exclusive(async () => {
        if (this.stopped) return;
        let records: RegisteredDatabase[];
        try {
          records = await this.opts.registry.list();
        } catch (err) {
          if (!this.stopped) this.retryRegistry();
          return;
        }
        const added = this.addRegistered(records);
        await adoptLegacySpools(this.opts.config.spool_dir, (name) => this.legacyOwner(name), this.opts.logger);
        for (const e of added) if (e.pitr.enabled) await this.startReceiver(e);
        await this.changed();
        this.opts.logger.info({ databases: added.map((e) => e.name) }, 'registered databases loaded');
      }).catch((err: unknown) => this.opts.logger.error({ err: loggedError(err) }, 'loading registered databases failed'));
    }, REGISTRY_RETRY_MS);
    this.registryTimer.unref();
  }

  /** Stop every receiver: each flushes, reports its flush position and finishes its uploads. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.registryTimer) clearTimeout(this.registryTimer);
    this.registryTimer = null;
    await this.exclusive(async () => undefined);
    await Promise.all([...this.entries.values()].map((e) => this.stopReceiver(e)));
  }

  /** Every protected database (for base backups and health). */
  listEntries(): DatabaseEntry[] {
    return [...this.entries.values()];
  }

  setRemoveGuard(guard: (projectId: string, name: string) => void): void {
    this.removeGuard = guard;
  }

  /** The database, or DATABASE_NOT_FOUND (for restores and branches). */
  lookup(projectId: string, name: string): DatabaseEntry {
    return this.entry(projectId, name);
  }

  /** Running receivers, for metrics. */
  receivers(): Array<{ project: string; name: string; status: ReceiverStatus }> {
    const out = [];
    for (const e of this.entries.values()) if (e.receiver) out.push({ project: e.project, name: e.name, status: e.receiver.status() });
    return out;
  }

  // --- DatabaseRegistry (projects routes) ---

  async listByProject(projectId: string): Promise<Array<{ name: string }>> {
    return [...this.entries.values()].filter((e) => e.project === projectId).map((e) => ({ name: e.name })).sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  // --- DatabaseService ---

  isConfigProject(projectId: string): boolean {
    return this.configProjects.has(projectId);
  }

  async list(projectId: string): Promise<DatabaseView[]> {
    const entries = [...this.entries.values()].filter((e) => e.project === projectId);
    for (const e of entries) await this.majors.learn(e);
    return entries.map((e) => this.view(e));
  }

  async get(projectId: string, name: string): Promise<DatabaseView> {
    const e = this.entry(projectId, name);
    await this.majors.learn(e);
    return this.view(e);
  }

  async register(projectId: string, input: RegisterDatabaseInput): Promise<DatabaseView> {
    this.assertNameFree(projectId, input.name);
    // Asked before the mutation queue: a server that does not answer holds up nobody else.
    const major = await probeRegistrationMajor(input, this.opts.serverVersion, this.opts.logger);
    return this.exclusive(async () => {
      this.assertNameFree(projectId, input.name);
      const at = this.now().toISOString();
      const rec: RegisteredDatabase = {
        version: 1,
        project: projectId,
        name: input.name,
        connection: {
          host: input.host,
          port: input.port,
          user: input.user,
          ...(input.password !== undefined ? { password: input.password } : {}),
          dbname: input.dbname,
          sslmode: input.sslmode,
        },
        // Registered with PITR off: streaming starts when the client enables it (pitr/enable).
        pitr: { enabled: false, retention_days: DATABASE_DEFAULTS.pitr.retention_days },
        slot_name: projectSlotName(projectId, input.name),
        ...(major !== null ? { pg_major: major } : {}),
        ...(input.region !== undefined ? { region: input.region } : {}),
        created_at: at,
        updated_at: at,
      };
      await this.opts.registry.put(rec);
      const e = this.fromRecord(rec);
      this.entries.set(entryKey(projectId, input.name), e);
      await this.changed();
      this.opts.logger.info({ project: projectId, database: input.name, host: input.host, port: input.port, pg_major: major }, 'database registered');
      return this.view(e);
    });
  }

  remove(projectId: string, name: string, deleteData: boolean): Promise<{ data_deleted: boolean; objects_deleted: number }> {
    return this.exclusive(async () => {
      const e = this.entry(projectId, name);
      if (e.source === 'config') {
        // The file's path stays in the log (context): clients are not told the daemon's paths.
        throw new PitrdError('CONFLICT', `database "${name}" is defined in the daemon's configuration file; remove it there`, {
          context: { project_id: projectId, name, config_file: this.opts.config.source },
        });
      }
      this.removeGuard?.(projectId, name);
      await this.stopReceiver(e);
      try {
        if (await dropInactiveSlot(entryConnection(e), e.slotName)) this.opts.logger.info({ database: name, slot: e.slotName }, 'replication slot dropped');
      } catch (err) {
        // The database may be gone already; the operator must then drop the slot by hand.
        this.opts.logger.warn({ database: name, slot: e.slotName, err: loggedError(err) }, 'could not drop the replication slot; drop it on the server so it stops retaining WAL');
      }
      await this.opts.registry.delete(projectId, name);
      this.entries.delete(entryKey(projectId, name));
      // Before the data goes: stops the database's schedules and interrupts a running backup.
      await this.changed();
      let objects = 0;
      if (deleteData) objects = await this.deleteData(e);
      this.opts.logger.info({ project: projectId, database: name, data_deleted: deleteData, objects_deleted: objects }, 'database deleted');
      return { data_deleted: deleteData, objects_deleted: objects };
    });
  }

  // --- PitrService ---

  async config(projectId: string, name: string): Promise<PitrConfigView> {
    const e = this.entry(projectId, name);
    const w = this.opts.windows ? await this.opts.windows.current(e) : null;
    const window = w && w.status === 'ok' && w.from !== null && w.to !== null ? { from: w.from, to: w.to } : null;
    const newest = this.opts.windows ? await this.opts.windows.newestCompletedBackup(e) : await this.newestCompletedBackup(e);
    return this.pitrView(e, newest, window);
  }

  async recoveryWindow(projectId: string, name: string): Promise<RecoveryWindowResponse> {
    const e = this.entry(projectId, name);
    if (!this.opts.windows) throw new PitrdError('INTERNAL_ERROR', 'recovery windows are not available in this daemon');
    const w = await this.opts.windows.current(e);
    if (!w) return { from: null, to: null, base_backup_time: null, latest_wal_time: null, timeline: null, status: 'no-wal', base_backup_id: null, gaps: [], from_lsn: null, to_lsn: null, last_commit_time: null, ranges: [] };
    return {
      from: w.from, to: w.to, base_backup_time: w.base_backup_time, latest_wal_time: w.latest_wal_time, timeline: w.timeline, status: w.status, base_backup_id: w.backup_id, gaps: w.gaps,
      from_lsn: w.from_lsn, to_lsn: w.to_lsn, last_commit_time: w.last_commit_time, ranges: w.ranges,
    };
  }

  enable(projectId: string, name: string, retentionDays: number | undefined): Promise<PitrConfigView> {
    return this.exclusive(async () => {
      const e = this.entry(projectId, name);
      if (retentionDays !== undefined) e.pitr.retention_days = retentionDays;
      e.pitr.enabled = true;
      await this.persist(e);
      await this.startReceiver(e);
      await this.changed();
      return this.pitrView(e);
    });
  }

  disable(projectId: string, name: string): Promise<PitrConfigView> {
    return this.exclusive(async () => {
      const e = this.entry(projectId, name);
      e.pitr.enabled = false;
      await this.persist(e);
      await this.stopReceiver(e);
      await this.changed();
      return this.pitrView(e);
    });
  }

  async listWal(projectId: string, name: string): Promise<WalArchiveView[]> {
    const e = this.entry(projectId, name);
    const out: WalArchiveView[] = [];
    for await (const s of this.opts.repo.database(e).wal.listSegments()) {
      out.push({ filename: s.name, timeline: s.timeline, size_bytes: s.size, archived_at: s.archived_at });
    }
    return out;
  }

  async receiverStatus(projectId: string, name: string): Promise<ReceiverStatus> {
    return this.runningReceiver(projectId, name).status();
  }

  restartReceiver(projectId: string, name: string): Promise<ReceiverStatus> {
    return this.exclusive(async () => {
      const r = this.runningReceiver(projectId, name);
      await r.restart();
      this.opts.logger.info({ project: projectId, database: name }, 'receiver restarted');
      return r.status();
    });
  }

  // --- internals ---

  /** Names are unique within a project only: another project's names are not this tenant's business (not even that they exist). */
  private assertNameFree(projectId: string, name: string): void {
    if (this.entries.has(entryKey(projectId, name))) {
      throw new PitrdError('CONFLICT', `a database named "${name}" is already registered in project ${projectId}`, { context: { project_id: projectId, name } });
    }
  }

  private runningReceiver(projectId: string, name: string) {
    const e = this.entry(projectId, name);
    if (!e.pitr.enabled || !e.receiver) {
      throw new PitrdError('PITR_NOT_ENABLED', `PITR is not enabled for database "${name}" in project ${projectId}; POST .../pitr/enable first`, { context: { project_id: projectId, name } });
    }
    return e.receiver;
  }

  private entry(projectId: string, name: string): DatabaseEntry {
    const e = this.entries.get(entryKey(projectId, name));
    if (!e) throw new PitrdError('DATABASE_NOT_FOUND', `database "${name}" not found in project ${projectId}`, { context: { project_id: projectId, name } });
    return e;
  }

  /**
   * The project whose database wrote `<spool_dir>/<name>/` before format 2: the one the
   * repository upgrade gave `databases/<name>/` to, else the only database of that name that
   * still uses its format-1 slot (a configuration database, or a record without slot_name).
   */
  private legacyOwner(name: string): string | null {
    const upgraded = this.opts.repo.repoJson.upgraded?.owners[name];
    if (upgraded !== undefined && this.entries.has(entryKey(upgraded, name))) return upgraded;
    const candidates = [...this.entries.values()].filter((e) => e.name === name && (e.source === 'config' || e.slotName === defaultSlotName(name)));
    return candidates.length === 1 ? candidates[0]!.project : null;
  }


  private fromRecord(rec: RegisteredDatabase): DatabaseEntry {
    const c = rec.connection;
    return {
      project: rec.project,
      name: rec.name,
      source: 'api',
      host: c.host,
      port: c.port,
      user: c.user,
      password: () => c.password,
      dbname: c.dbname,
      tls: { sslmode: c.sslmode },
      slotName: rec.slot_name ?? defaultSlotName(rec.name),
      synchronous: DATABASE_DEFAULTS.pitr.synchronous,
      pitr: { ...rec.pitr },
      region: rec.region ?? null,
      created_at: rec.created_at,
      receiver: null,
      major: rec.pg_major ?? null,
    };
  }

  /**
   * Registered databases keep their PITR state in the registry (a restart resumes it). For
   * configuration-file databases enable/disable lasts until the daemon restarts: the file wins.
   */
  private async persist(e: DatabaseEntry): Promise<void> {
    if (e.source !== 'api') return;
    const rec = await this.opts.registry.get(e.project, e.name);
    if (!rec) throw new PitrdError('DATABASE_NOT_FOUND', `database "${e.name}" is no longer in the registry`, { context: { project_id: e.project, name: e.name } });
    await this.opts.registry.put({ ...rec, pitr: { ...e.pitr }, updated_at: this.now().toISOString() });
  }

  private async startReceiver(e: DatabaseEntry): Promise<void> {
    if (e.receiver) return;
    const options: ReceiverLaunch = {
      database: e.name,
      project: e.project,
      connection: entryConnection(e),
      spoolDir: spoolDirOf(this.opts.config.spool_dir, e),
      ...(this.opts.config.spool.max_bytes !== undefined ? { maxSpoolBytes: this.opts.config.spool.max_bytes } : {}),
      slotName: e.slotName,
      synchronous: e.synchronous,
    };
    const logger = this.opts.logger.child({ component: 'receiver', project: e.project, database: e.name });
    const receiver = this.opts.startReceiver(options, logger);
    await receiver.start();
    e.receiver = receiver;
    this.opts.logger.info({ project: e.project, database: e.name, slot: e.slotName }, 'receiver started');
    this.opts.onReceiverStarted?.({ project: e.project, name: e.name });
  }

  private async stopReceiver(e: DatabaseEntry): Promise<void> {
    const r = e.receiver;
    if (!r) return;
    e.receiver = null;
    const st = await r.stop();
    this.opts.logger.info(
      { project: e.project, database: e.name, last_flushed_lsn: st.last_flushed_lsn, last_uploaded_lsn: st.last_uploaded_lsn, segments_archived: st.segments_archived, upload_backlog: st.upload_backlog },
      'receiver stopped',
    );
  }

  /** Everything under the database's own prefix (its project's): never another project's data. */
  private async deleteData(ref: DatabaseRef): Promise<number> {
    const store = this.opts.repo.store;
    let batch: string[] = [];
    let n = 0;
    for await (const o of store.listAll(this.opts.repo.database(ref).keys.root)) {
      batch.push(o.key);
      if (batch.length === 1000) {
        await store.delete(batch);
        n += batch.length;
        batch = [];
      }
    }
    if (batch.length) await store.delete(batch);
    return n + batch.length;
  }

  private view(e: DatabaseEntry): DatabaseView {
    return {
      id: `db_${e.project}_${e.name}`,
      name: e.name,
      project_id: e.project,
      source: e.source,
      host: e.host,
      port: e.port,
      user: e.user,
      database: e.dbname,
      sslmode: e.tls.sslmode,
      pitr_enabled: e.pitr.enabled,
      status: e.receiver ? e.receiver.status().status : 'disabled',
      region: e.region ?? null,
      managed: false,
      created_at: e.created_at,
      pg_major: e.major,
      restore_binaries: e.major === null ? null : { available: restoreBinaries(e.major, hostBinDirs()).available },
    };
  }

  /** The base backup a restore to "now" would start from: the newest completed one. */
  private async newestCompletedBackup(ref: DatabaseRef): Promise<string | null> {
    const all = await this.opts.repo.database(ref).backups.list();
    for (let i = all.length - 1; i >= 0; i--) if (all[i]!.status === 'completed') return all[i]!.id;
    return null;
  }

  private pitrView(e: DatabaseEntry, baseBackupId: string | null = null, window: PitrConfigView['recovery_window'] = null): PitrConfigView {
    return {
      enabled: e.pitr.enabled,
      retention_days: e.pitr.retention_days,
      base_backup_id: baseBackupId,
      recovery_window: window,
      wal_receiver_status: e.receiver ? e.receiver.status().status : 'disabled',
    };
  }

  private async changed(): Promise<void> {
    await this.opts.onChange?.([...this.entries.values()]);
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }
}
