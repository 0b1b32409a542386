/**
 * Branches (the API's BranchService): a restore to a point in time left running, with its own
 * port and connection URI, until deleted. State lives in {root}/branches/{id}/branch.json.
 *
 * Daemon shutdown stops every branch's server (fast shutdown) and records it as stopped by the
 * daemon; the next start starts them again (same port when free). Leaving them running would
 * leave PostgreSQL servers nothing manages once the daemon is stopped for good (uninstalled,
 * moved, its disk cleaned), holding ports, memory and disk; a stopped daemon means none of its
 * servers run. After a crash (no clean stop) a branch whose server still runs is adopted as is.
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { BranchService, BranchView, CreateBranchInput } from '../api/branches/index.js';
import { errorMessage, PitrdError, publicRecordError, recordedError, loggedError } from '../errors.js';
import { newId } from '../repository/index.js';
import type { RestoreResult } from '../restore/index.js';
import { branchDir, loadBranchStates, saveBranchState, type BranchState } from './branch-state.js';
import type { DatabaseEntry } from './entry.js';
import { freePort, pgIsRunning, pgStart, pgStop, portIsFree } from '../postgres/cluster/index.js';
import { ensureOwnedDir } from './restore-root.js';
import { parseTargetBody } from './restore-target.js';
import type { RestoreManager } from './restores.js';

const STOPPED_WHILE_CREATING = 'the daemon stopped while the branch was being created; delete it and create it again';
const INTERRUPTED_BRANCH = 'interrupted: the daemon stopped while the branch was being created';

export interface BranchManagerOptions {
  restores: RestoreManager;
  lookup: (projectId: string, name: string) => DatabaseEntry;
  logger: Logger;
}

interface Branch {
  state: BranchState;
  /** The server runRestore left running (stopServer also removes its work directory). */
  result: RestoreResult | null;
  /** Settles when the creating restore does. */
  created: Promise<void>;
}

export class BranchManager implements BranchService {
  private readonly branches = new Map<string, Branch>();
  /** Creations and deletions one at a time: no name race, no delete during a create's bookkeeping. */
  private queue: Promise<unknown> = Promise.resolve();
  private stopping = false;

  constructor(private readonly opts: BranchManagerOptions) {}

  private get root(): string {
    return this.opts.restores.root;
  }

  /** Load the recorded branches; start those the daemon stopped, adopt those still running. */
  async start(): Promise<void> {
    for (const s of loadBranchStates(this.root, (file, err) => this.opts.logger.warn({ file, err: loggedError(err) }, 'unreadable branch state file; ignored'))) {
      const b: Branch = { state: s, result: null, created: Promise.resolve() };
      this.branches.set(s.id, b);
      try {
        if (s.status === 'creating') {
          // The daemon died while restoring it: the half-restored directory is worthless.
          await pgStop(s.data_dir).catch(() => undefined);
          rmSync(s.data_dir, { recursive: true, force: true });
          this.save(b, { status: 'failed', error: STOPPED_WHILE_CREATING, error_public: STOPPED_WHILE_CREATING });
        } else if (s.status === 'running' || (s.status === 'stopped' && s.stopped_by_daemon)) {
          if (await pgIsRunning(s.data_dir)) this.save(b, { status: 'running', stopped_by_daemon: false });
          else await this.startServer(b);
        }
      } catch (err) {
        this.save(b, { status: 'stopped', stopped_by_daemon: false, ...recordedError(new PitrdError('RESTORE_FAILED', `could not start the branch's server: ${errorMessage(err)}`, { cause: err })) });
        this.opts.logger.warn({ branch: s.id, err: loggedError(err) }, 'branch server did not start');
      }
    }
    if (this.branches.size) this.opts.logger.info({ branches: this.branches.size }, 'branches loaded');
  }

  /** Shutdown: wait for creations (RestoreManager.stop interrupts them), stop every server. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(
      [...this.branches.values()].map(async (b) => {
        await b.created;
        if (b.state.status !== 'running') return;
        await this.stopServer(b);
        this.save(b, { status: 'stopped', stopped_by_daemon: true });
        this.opts.logger.info({ branch: b.state.id, data_dir: b.state.data_dir }, 'branch server stopped for the daemon shutdown; the next start starts it again');
      }),
    );
  }

  create(projectId: string, name: string, input: CreateBranchInput): Promise<BranchView> {
    // A malformed target is refused first (as a restore's), before the database is looked up.
    const parsed = parseTargetBody(input.target, { kind: 'latest' });
    return this.exclusive(async () => {
      const e = this.opts.lookup(projectId, name);
      const taken = [...this.branches.values()].find((b) => b.state.project_id === e.project && b.state.database === e.name && b.state.branch_name === input.branchName);
      if (taken) {
        throw new PitrdError('CONFLICT', `database "${e.name}" already has a branch named "${input.branchName}" (${taken.state.id}); delete it first or choose another name`, {
          context: { branch_name: input.branchName, branch_id: taken.state.id },
        });
      }
      const id = newId('br');
      const dataDir = join(branchDir(this.root, id), 'data');
      ensureOwnedDir(this.root);
      const launched = await this.opts.restores.launch(
        e,
        {
          ...parsed,
          mode: 'running',
          ...(input.backupId !== undefined ? { backupId: input.backupId } : {}),
        },
        dataDir,
        'branch',
      );
      const t = parsed.target;
      const state: BranchState = {
        version: 1,
        id,
        branch_name: input.branchName,
        project_id: e.project,
        database: e.name,
        status: 'creating',
        stopped_by_daemon: false,
        port: null,
        user: e.user,
        dbname: e.dbname,
        restore_id: launched.record.id,
        target: t,
        backup_id: launched.record.backup_id,
        data_dir: dataDir,
        work_dir: null,
        created_at: new Date().toISOString(),
        error: null,
      };
      const b: Branch = { state, result: null, created: Promise.resolve() };
      this.branches.set(id, b);
      saveBranchState(this.root, state);
      b.created = launched.result.then(
        (res) => {
          b.result = res;
          this.save(b, { status: 'running', port: res.port ?? null, work_dir: res.workDir });
          this.opts.logger.info({ branch: id, database: e.name, port: res.port }, 'branch running');
        },
        (err: unknown) => {
          this.save(b, this.stopping ? { status: 'failed', error: INTERRUPTED_BRANCH, error_public: INTERRUPTED_BRANCH } : { status: 'failed', ...recordedError(err) });
          this.opts.logger.warn({ branch: id, database: e.name, err: loggedError(err) }, 'branch creation failed');
        },
      );
      this.opts.logger.info({ branch: id, database: e.name, branch_name: input.branchName, restore: launched.record.id }, 'branch creating');
      return this.view(b);
    });
  }

  async list(projectId: string, name: string): Promise<BranchView[]> {
    const e = this.opts.lookup(projectId, name);
    return [...this.branches.values()].filter((b) => b.state.database === e.name && b.state.project_id === e.project).map((b) => this.view(b));
  }

  async listProject(projectId: string): Promise<BranchView[]> {
    return [...this.branches.values()].filter((b) => b.state.project_id === projectId).map((b) => this.view(b));
  }

  async get(projectId: string, name: string, branchId: string): Promise<BranchView> {
    return this.view(this.branch(projectId, name, branchId));
  }

  remove(projectId: string, name: string, branchId: string): Promise<{ id: string; deleted: true }> {
    return this.exclusive(async () => {
      const b = this.branch(projectId, name, branchId);
      if (b.state.status === 'creating') {
        throw new PitrdError('CONFLICT', `branch ${branchId} is still being created; delete it once its status is running or failed`, { context: { branch_id: branchId } });
      }
      await this.stopServer(b);
      if (await pgIsRunning(b.state.data_dir)) {
        throw new PitrdError('INTERNAL_ERROR', `the server of branch ${branchId} did not stop; its data directory ${b.state.data_dir} is kept`, { context: { branch_id: branchId } });
      }
      // Tablespaces of a restore go next to its data directory (src/restore extract).
      rmSync(`${b.state.data_dir}.tblspc`, { recursive: true, force: true });
      rmSync(branchDir(this.root, branchId), { recursive: true, force: true });
      if (b.state.work_dir !== null) rmSync(b.state.work_dir, { recursive: true, force: true });
      this.branches.delete(branchId);
      this.opts.logger.info({ branch: branchId, database: b.state.database }, 'branch deleted');
      return { id: branchId, deleted: true as const };
    });
  }

  /**
   * Branches holding a data directory (running or stopped), of one database or all: the restore
   * limits count them. Those being created are counted by the RestoreManager as restores.
   */
  count(project?: string, database?: string): number {
    return [...this.branches.values()].filter((b) => (b.state.status === 'running' || b.state.status === 'stopped') && (project === undefined || (b.state.project_id === project && b.state.database === database))).length;
  }

  /** CONFLICT while the database has branches: deleting it would orphan running servers. */
  assertNone(projectId: string, name: string): void {
    const mine = [...this.branches.values()].filter((b) => b.state.project_id === projectId && b.state.database === name);
    if (mine.length) {
      throw new PitrdError('CONFLICT', `database "${name}" has ${mine.length} branch(es) (${mine.map((b) => b.state.id).join(', ')}); delete them first`, {
        context: { name, branches: mine.map((b) => b.state.id) },
      });
    }
  }

  // --- internals ---

  private branch(projectId: string, name: string, branchId: string): Branch {
    const e = this.opts.lookup(projectId, name);
    const b = this.branches.get(branchId);
    if (!b || b.state.database !== e.name || b.state.project_id !== e.project) {
      throw new PitrdError('BRANCH_NOT_FOUND', `branch ${branchId} of database "${e.name}" not found`, { context: { name: e.name, branch_id: branchId } });
    }
    return b;
  }

  private async stopServer(b: Branch): Promise<void> {
    if (b.result?.stopServer) {
      const r = b.result;
      b.result = null;
      await r.stopServer!().catch((err: unknown) => this.opts.logger.warn({ branch: b.state.id, err: loggedError(err) }, 'stopping the branch server failed'));
      b.state = { ...b.state, work_dir: null };
    }
    await pgStop(b.state.data_dir);
  }

  /** Start a branch's server again (after a daemon restart): its port if still free. */
  private async startServer(b: Branch): Promise<void> {
    if (!existsSync(b.state.data_dir)) throw new Error(`data directory ${b.state.data_dir} is gone`);
    const runDir = join(branchDir(this.root, b.state.id), 'run');
    ensureOwnedDir(runDir);
    const port = b.state.port !== null && (await portIsFree(b.state.port)) ? b.state.port : await freePort();
    await pgStart({ dataDir: b.state.data_dir, port, runDir });
    this.save(b, { status: 'running', port, stopped_by_daemon: false, error: null, error_public: null });
    this.opts.logger.info({ branch: b.state.id, port }, 'branch server started');
  }

  private save(b: Branch, patch: Partial<BranchState>): void {
    b.state = { ...b.state, ...patch };
    try {
      saveBranchState(this.root, b.state);
    } catch (err) {
      this.opts.logger.error({ branch: b.state.id, err: loggedError(err) }, 'could not write the branch state file');
    }
  }

  private view(b: Branch): BranchView {
    const s = b.state;
    const t = s.target as { kind: BranchView['target_kind']; time?: string };
    const running = s.status === 'running' && s.port !== null;
    return {
      id: s.id,
      branch_name: s.branch_name,
      project_id: s.project_id,
      database: s.database,
      status: s.status,
      connection_uri: running ? `postgresql://${encodeURIComponent(s.user)}@127.0.0.1:${s.port}/${encodeURIComponent(s.dbname)}` : null,
      host: '127.0.0.1',
      port: running ? s.port : null,
      restore_id: s.restore_id,
      target_kind: t.kind,
      target_time: t.kind === 'time' ? (t.time ?? null) : null,
      backup_id: s.backup_id,
      data_dir: s.data_dir,
      created_at: s.created_at,
      error: publicRecordError(s),
    };
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.stopping) return Promise.reject(new PitrdError('CONFLICT', 'the daemon is shutting down; try again once it is back'));
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }
}
