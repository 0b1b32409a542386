/**
 * Managed instances: PostgreSQL servers pitrd creates and runs on its own host (a database
 * created through the API without connection details, infrai's project.create, a snapshot
 * restored into a new project), protected from their first WAL record like any registered
 * database. The API's DatabaseService in the daemon: registered databases go to
 * ProtectedDatabases unchanged; a managed one is an instance here plus a registered database
 * there (connection: the instance's replication role on 127.0.0.1), so PITR, backups, restores
 * and branches work on it as on any other.
 *
 * Creating one (status `provisioning` until all is done, then `running`; `failed` with the
 * error otherwise): initdb with the requested major (or a restore of the snapshot), pg_hba.conf
 * and roles (a replication role for pitrd, the client's role and database, generated
 * passwords), the server started by the local cluster runner on a free port, the database
 * registered with PITR enabled (slot + receiver) and a first base backup stored. The client gets
 * its connection URI (GET …/url) once it runs: everything it writes is protected.
 *
 * The daemon's shutdown stops the servers (after the receivers) and the next start starts them
 * again, before the receivers connect. Deleting stops the server and removes its data directory;
 * the repository keeps its WAL and backups (retention expires them; ?delete_data=true removes them).
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { DatabaseConnectionView, DatabaseService, DatabaseView, ProvisionDatabaseInput, RegisterDatabaseInput } from '../api/databases/index.js';
import type { DatabaseRegistry } from '../api/projects/index.js';
import { errorMessage, isPitrdError, loggedError, PitrdError, publicRecordError, recordedError } from '../errors.js';
import {
  binDirFor,
  freePort,
  generatePassword,
  hostBinDirs,
  initManagedCluster,
  MANAGED_APP_DATABASE,
  MANAGED_APP_ROLE,
  MANAGED_REPLICATION_ROLE,
  pgIsRunning,
  pgStart,
  pgStop,
  portIsFree,
  serverAt,
  setupManagedRoles,
  writeManagedHba,
  dataDirMajor,
  restoreBinaries,
} from '../postgres/cluster/index.js';
import { isSupportedMajor } from '../postgres/index.js';
import { newId } from '../repository/index.js';
import type { BackupManager } from './backups.js';
import { instanceDir, instancesStateDir, loadInstanceStates, saveInstanceState, deleteInstanceState, type InstanceState } from './instance-state.js';
import type { ProtectedDatabases } from './protected-databases.js';
import { ensureOwnedDir, stateDir } from './restore-root.js';
import type { RestoreManager } from './restores.js';

/** Base backups are taken from PostgreSQL 15 on (src/basebackup), so a managed instance is 15 or newer. */
const OLDEST_MANAGED_MAJOR = 15;
const STOPPED_WHILE_PROVISIONING = 'the daemon stopped while the instance was being created; delete it and create it again';
const HOST = '127.0.0.1';

export interface InstanceManagerOptions {
  root: string;
  databases: ProtectedDatabases;
  backups: BackupManager;
  /** Set once the restore manager exists (it is built after the databases start). */
  restores: () => RestoreManager;
  logger: Logger;
}

interface Instance {
  state: InstanceState;
  /** Settles when the creation does. */
  building: Promise<void>;
}

export class InstanceManager implements DatabaseService, DatabaseRegistry {
  private readonly instances = new Map<string, Instance>();
  private queue: Promise<unknown> = Promise.resolve();
  private stopping = false;

  constructor(private readonly opts: InstanceManagerOptions) {}

  private get root(): string {
    return this.opts.root;
  }

  /** Load the recorded instances and start their servers (before the receivers connect to them). */
  async start(): Promise<void> {
    // The root as restores make it (the postgres OS user's), then the root-only state directory.
    ensureOwnedDir(this.root);
    mkdirSync(stateDir(this.root), { recursive: true, mode: 0o700 });
    mkdirSync(instancesStateDir(this.root), { recursive: true, mode: 0o700 });
    for (const s of loadInstanceStates(this.root, (file, err) => this.opts.logger.warn({ file, err: loggedError(err) }, 'unreadable instance state file; ignored'))) {
      const inst: Instance = { state: s, building: Promise.resolve() };
      this.instances.set(s.id, inst);
      try {
        if (s.status === 'provisioning') {
          await pgStop(s.data_dir).catch(() => undefined);
          rmSync(s.data_dir, { recursive: true, force: true });
          this.save(inst, { status: 'failed', error: STOPPED_WHILE_PROVISIONING, error_public: STOPPED_WHILE_PROVISIONING });
        } else if (s.status === 'running' || (s.status === 'stopped' && s.stopped_by_daemon)) {
          if (await pgIsRunning(s.data_dir)) this.save(inst, { status: 'running', stopped_by_daemon: false });
          else await this.startServer(inst);
        }
      } catch (err) {
        this.save(inst, { status: 'stopped', stopped_by_daemon: false, ...recordedError(asInstanceError(err, `could not start the instance's server`)) });
        this.opts.logger.warn({ instance: s.id, err: loggedError(err) }, 'managed instance did not start');
      }
    }
    if (this.instances.size) this.opts.logger.info({ instances: this.instances.size }, 'managed instances loaded');
  }

  /** Shutdown (after the receivers stopped): wait for creations, stop every server. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(
      [...this.instances.values()].map(async (inst) => {
        await inst.building;
        if (inst.state.status !== 'running') return;
        await pgStop(inst.state.data_dir).catch((err: unknown) => this.opts.logger.warn({ instance: inst.state.id, err: loggedError(err) }, 'stopping the instance failed'));
        this.save(inst, { status: 'stopped', stopped_by_daemon: true });
        this.opts.logger.info({ instance: inst.state.id, database: inst.state.name }, 'managed instance stopped for the daemon shutdown; the next start starts it again');
      }),
    );
  }

  // --- DatabaseRegistry / DatabaseService ---

  isConfigProject(projectId: string): boolean {
    return this.opts.databases.isConfigProject(projectId);
  }

  async listByProject(projectId: string): Promise<Array<{ name: string }>> {
    const names = new Set((await this.opts.databases.listByProject(projectId)).map((d) => d.name));
    for (const i of this.instances.values()) if (i.state.project_id === projectId) names.add(i.state.name);
    return [...names].sort().map((name) => ({ name }));
  }

  async list(projectId: string): Promise<DatabaseView[]> {
    const out = new Map((await this.opts.databases.list(projectId)).map((v) => [v.name, v]));
    for (const i of this.instances.values()) if (i.state.project_id === projectId) out.set(i.state.name, this.view(i, out.get(i.state.name)));
    return [...out.values()];
  }

  async get(projectId: string, name: string): Promise<DatabaseView> {
    const inst = this.find(projectId, name);
    if (!inst) return this.opts.databases.get(projectId, name);
    return this.view(inst, await this.registered(projectId, name));
  }

  /** The managed instance of a database, or null (a registered or configured one). */
  instanceOf(projectId: string, name: string): InstanceState | null {
    return this.find(projectId, name)?.state ?? null;
  }

  register(projectId: string, input: RegisterDatabaseInput): Promise<DatabaseView> {
    return this.exclusive(async () => {
      this.assertNoInstance(projectId, input.name);
      return this.opts.databases.register(projectId, input);
    });
  }

  provision(projectId: string, input: ProvisionDatabaseInput): Promise<DatabaseView> {
    return this.exclusive(async () => {
      await this.assertNameFree(projectId, input.name);
      const major = chooseMajor(input.postgresVersion);
      const pgBin = binDirFor(major, hostBinDirs());
      const inst = this.record(projectId, input.name, input.displayName ?? null, major, input.region ?? null, input.config ?? null, { kind: 'initdb', backup_id: null, project_id: null, database: null });
      inst.building = this.build(inst, async (dataDir) => {
        await initManagedCluster({ dataDir, pgBin, pwDir: instanceDir(this.root, inst.state.id) });
        return pgBin;
      });
      return this.view(inst, null);
    });
  }

  /**
   * A new managed instance from a base backup of a managed instance (infrai's snapshot.restore):
   * the backup restored to its consistency point, then given its own passwords, port, slot and
   * first base backup. Refusals (unknown backup, limits, no binaries) come back before anything
   * is written.
   */
  restoreBackup(source: { projectId: string; name: string }, backupId: string, target: { projectId: string; name: string; displayName?: string | undefined }): Promise<DatabaseView> {
    return this.exclusive(async () => {
      const src = this.find(source.projectId, source.name);
      await this.assertNameFree(target.projectId, target.name);
      const entry = this.opts.databases.lookup(source.projectId, source.name);
      const inst = this.record(target.projectId, target.name, target.displayName ?? null, src?.state.major ?? 0, src?.state.region ?? null, null, {
        kind: 'snapshot',
        backup_id: backupId,
        project_id: source.projectId,
        database: source.name,
      });
      const dataDir = inst.state.data_dir;
      let launched;
      try {
        ensureOwnedDir(instanceDir(this.root, inst.state.id));
        launched = await this.opts.restores().launch(entry, { target: { kind: 'immediate' }, backupId, mode: 'running', recordFields: { instance: inst.state.id } }, dataDir, 'instance');
      } catch (err) {
        this.forget(inst);
        throw err;
      }
      inst.building = this.build(inst, async () => {
        const res = await launched.result;
        await res.stopServer?.();
        const major = dataDirMajor(dataDir);
        if (major === null) throw new PitrdError('INSTANCE_FAILED', `the restored data directory ${dataDir} has no PG_VERSION`);
        this.save(inst, { major });
        return binDirFor(major, hostBinDirs());
      });
      return this.view(inst, null);
    });
  }

  async connection(projectId: string, name: string): Promise<DatabaseConnectionView> {
    const inst = this.find(projectId, name);
    if (!inst) {
      const d = await this.opts.databases.get(projectId, name);
      return { host: d.host, port: d.port, database: d.database, user: d.user, sslmode: d.sslmode };
    }
    const s = inst.state;
    if (s.status !== 'running' || s.port === null) {
      throw new PitrdError('CONFLICT', `database "${name}" is ${s.status}; its connection URL is given once its status is running`, { context: { project_id: projectId, name, status: s.status } });
    }
    return { host: HOST, port: s.port, database: MANAGED_APP_DATABASE, user: MANAGED_APP_ROLE, sslmode: 'disable', password: s.passwords.app };
  }

  remove(projectId: string, name: string, deleteData: boolean): Promise<{ data_deleted: boolean; objects_deleted: number }> {
    return this.exclusive(async () => {
      const inst = this.find(projectId, name);
      if (!inst) return this.opts.databases.remove(projectId, name, deleteData);
      if (inst.state.status === 'provisioning') {
        throw new PitrdError('CONFLICT', `database "${name}" is still being created; delete it once its status is running or failed`, { context: { project_id: projectId, name } });
      }
      let r = { data_deleted: false, objects_deleted: 0 };
      // Refused there (CONFLICT) while it has branches or a restore runs: nothing is stopped then.
      if (await this.registered(projectId, name)) r = await this.opts.databases.remove(projectId, name, deleteData);
      await pgStop(inst.state.data_dir);
      if (await pgIsRunning(inst.state.data_dir)) {
        throw new PitrdError('INSTANCE_FAILED', `the server of managed instance ${inst.state.id} did not stop; its data directory ${inst.state.data_dir} is kept`, { context: { instance: inst.state.id } });
      }
      rmSync(instanceDir(this.root, inst.state.id), { recursive: true, force: true });
      this.forget(inst);
      this.opts.logger.info({ instance: inst.state.id, project: projectId, database: name }, 'managed instance deleted');
      return r;
    });
  }

  // --- internals ---

  private record(projectId: string, name: string, displayName: string | null, major: number, region: string | null, config: InstanceState['config'], origin: InstanceState['origin']): Instance {
    const id = newId('inst');
    const state: InstanceState = {
      version: 1,
      id,
      project_id: projectId,
      name,
      display_name: displayName,
      major,
      status: 'provisioning',
      stopped_by_daemon: false,
      port: null,
      data_dir: join(instanceDir(this.root, id), 'data'),
      region,
      config,
      passwords: { app: generatePassword(), replication: generatePassword() },
      origin,
      created_at: new Date().toISOString(),
      error: null,
      error_public: null,
    };
    const inst: Instance = { state, building: Promise.resolve() };
    this.instances.set(id, inst);
    this.save(inst, {});
    this.opts.logger.info({ instance: id, project: projectId, database: name, major, origin: origin.kind }, 'managed instance provisioning');
    return inst;
  }

  private forget(inst: Instance): void {
    this.instances.delete(inst.state.id);
    deleteInstanceState(this.root, inst.state.id);
  }

  /** The creation in the background: `prepare` makes the data directory and says which binaries run it. */
  private async build(inst: Instance, prepare: (dataDir: string) => Promise<string>): Promise<void> {
    const s = () => inst.state;
    try {
      ensureOwnedDir(instanceDir(this.root, s().id));
      const pgBin = await prepare(s().data_dir);
      writeManagedHba(s().data_dir);
      const runDir = join(instanceDir(this.root, s().id), 'run');
      ensureOwnedDir(runDir);
      const port = await freePort();
      await pgStart({ dataDir: s().data_dir, port, runDir, pgBin });
      this.save(inst, { port });
      await setupManagedRoles(serverAt(s().data_dir, pgBin, port, runDir), s().passwords);
      this.checkStopping();
      const { project_id: projectId, name } = s();
      await this.opts.databases.register(projectId, {
        name,
        host: HOST,
        port,
        user: MANAGED_REPLICATION_ROLE,
        password: s().passwords.replication,
        dbname: 'postgres',
        sslmode: 'disable',
        ...(s().region !== null ? { region: s().region! } : {}),
      });
      await this.opts.databases.enable(projectId, name, undefined);
      await this.firstBackup(projectId, name);
      this.save(inst, { status: 'running' });
      this.opts.logger.info({ instance: s().id, project: projectId, database: name, port }, 'managed instance running');
    } catch (err) {
      const failure = this.stopping ? new PitrdError('INSTANCE_FAILED', STOPPED_WHILE_PROVISIONING) : asInstanceError(err, 'creating the instance failed');
      this.save(inst, { status: 'failed', ...recordedError(failure) });
      this.opts.logger.warn({ instance: s().id, err: loggedError(err) }, 'managed instance creation failed');
      // A failed instance keeps no server running; its data directory goes with DELETE.
      await pgStop(s().data_dir).catch(() => undefined);
    }
  }

  /** The first base backup, waited for: from it on every write of the client is restorable. */
  private async firstBackup(projectId: string, name: string): Promise<void> {
    const b = await this.opts.backups.create(projectId, name, 'initial (managed instance created)');
    for (;;) {
      this.checkStopping();
      const v = await this.opts.backups.get(projectId, name, b.id).catch((err: unknown) => (isPitrdError(err, 'BACKUP_NOT_FOUND') ? null : Promise.reject(err)));
      if (v?.status === 'completed') return;
      if (v?.status === 'failed') throw new PitrdError('INSTANCE_FAILED', `the first base backup ${b.id} of database "${name}" failed: ${v.error ?? 'no reason recorded'}`, { context: { backup_id: b.id } });
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  private checkStopping(): void {
    if (this.stopping) throw new PitrdError('INSTANCE_FAILED', STOPPED_WHILE_PROVISIONING);
  }

  /** Start an instance's server again (daemon start): its recorded port, which its registered connection names. */
  private async startServer(inst: Instance): Promise<void> {
    const s = inst.state;
    if (s.port === null) throw new PitrdError('INSTANCE_FAILED', `managed instance ${s.id} has no recorded port`);
    if (!(await portIsFree(s.port))) {
      throw new PitrdError('INSTANCE_FAILED', `port ${s.port} of managed instance ${s.id} is taken by another process; free it and restart the daemon`, { context: { instance: s.id, port: s.port } });
    }
    const runDir = join(instanceDir(this.root, s.id), 'run');
    ensureOwnedDir(runDir);
    await pgStart({ dataDir: s.data_dir, port: s.port, runDir, pgBin: binDirFor(s.major, hostBinDirs()) });
    this.save(inst, { status: 'running', stopped_by_daemon: false, error: null, error_public: null });
    this.opts.logger.info({ instance: s.id, database: s.name, port: s.port }, 'managed instance started');
  }

  private find(projectId: string, name: string): Instance | undefined {
    for (const i of this.instances.values()) if (i.state.project_id === projectId && i.state.name === name) return i;
    return undefined;
  }

  private assertNoInstance(projectId: string, name: string): void {
    if (this.find(projectId, name)) {
      throw new PitrdError('CONFLICT', `a database named "${name}" already exists in project ${projectId}`, { context: { project_id: projectId, name } });
    }
  }

  private async assertNameFree(projectId: string, name: string): Promise<void> {
    this.assertNoInstance(projectId, name);
    if (await this.registered(projectId, name)) {
      throw new PitrdError('CONFLICT', `a database named "${name}" is already registered in project ${projectId}`, { context: { project_id: projectId, name } });
    }
  }

  private async registered(projectId: string, name: string): Promise<DatabaseView | null> {
    try {
      return await this.opts.databases.get(projectId, name);
    } catch (err) {
      if (isPitrdError(err, 'DATABASE_NOT_FOUND')) return null;
      throw err;
    }
  }

  private save(inst: Instance, patch: Partial<InstanceState>): void {
    inst.state = { ...inst.state, ...patch };
    try {
      saveInstanceState(this.root, inst.state);
    } catch (err) {
      this.opts.logger.error({ instance: inst.state.id, err: loggedError(err) }, 'could not write the instance state file');
    }
  }

  private view(inst: Instance, registered: DatabaseView | null | undefined): DatabaseView {
    const s = inst.state;
    return {
      id: `db_${s.project_id}_${s.name}`,
      name: s.name,
      project_id: s.project_id,
      source: 'api',
      host: HOST,
      port: s.port ?? 0,
      user: MANAGED_APP_ROLE,
      database: MANAGED_APP_DATABASE,
      sslmode: 'disable',
      pitr_enabled: registered?.pitr_enabled ?? false,
      status: s.status,
      region: s.region,
      managed: true,
      error: publicRecordError(s),
      created_at: s.created_at,
      pg_major: s.major > 0 ? s.major : null,
      restore_binaries: s.major > 0 ? { available: restoreBinaries(s.major, hostBinDirs()).available } : null,
    };
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.stopping) return Promise.reject(new PitrdError('CONFLICT', 'the daemon is shutting down; try again once it is back'));
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

/** The major of a new instance: the one asked for (checked), else 15 when its binaries exist, else the newest found. */
function chooseMajor(requested: number | undefined): number {
  const dirs = hostBinDirs();
  if (requested === undefined) {
    if (dirs.has(15)) return 15;
    const found = [...dirs.keys()].filter((m) => m >= OLDEST_MANAGED_MAJOR).sort((a, b) => b - a);
    if (found.length === 0) binDirFor(15, dirs);
    return found[0] ?? 15;
  }
  if (!isSupportedMajor(requested)) {
    throw new PitrdError('POSTGRES_VERSION_UNSUPPORTED', `body.postgres_version: PostgreSQL ${requested} is not supported (pitrd supports 13 to 18)`, { context: { fields: ['body.postgres_version'] } });
  }
  if (requested < OLDEST_MANAGED_MAJOR) {
    throw new PitrdError('POSTGRES_VERSION_UNSUPPORTED', `body.postgres_version: a managed instance runs PostgreSQL ${OLDEST_MANAGED_MAJOR} or newer (base backups of ${requested} are not taken yet)`, {
      context: { fields: ['body.postgres_version'] },
    });
  }
  return requested;
}

function asInstanceError(err: unknown, what: string): PitrdError {
  if (err instanceof PitrdError) return err;
  return new PitrdError('INSTANCE_FAILED', `${what}: ${errorMessage(err)}`, { cause: err });
}
