/**
 * Restore drills run by the daemon (the API's DrillService): on each database's drill_schedule
 * and on demand. One drill at a time on this host (DRILL_IN_PROGRESS on demand; a scheduled one
 * waits its turn); each restore goes through the RestoreManager, so the restore limits and the
 * disk check apply, into `{restore root}/drills/{id}`, and never touches the protected server
 * (no connection to it, no spool: the repository alone is drilled). The body is ./drill-run.ts.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pgIsRunning, pgStop } from '../postgres/cluster/index.js';
import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from 'pino';
import type { DrillService, DrillView } from '../api/drills/index.js';
import { loggedError, PitrdError } from '../errors.js';
import { drillsByStart, newId, type DrillRecord, type Repository } from '../repository/index.js';
import { startDrill, type StartedDrill } from './drill-run.js';
import { entryKey, type DatabaseEntry } from './entry.js';
import type { RestoreManager } from './restores.js';

/** A database's drill settings (config `drill_schedule`, `drill`; none for databases registered through the API). */
export interface DrillSettings {
  schedule: string | null;
  checkSql: readonly string[];
  /** No successful drill for this long raises drill_stale; null: not watched. */
  maxAgeHours: number | null;
}

export interface DrillManagerOptions {
  repo: Repository;
  lookup: (projectId: string, name: string) => DatabaseEntry;
  entries: () => DatabaseEntry[];
  restores: RestoreManager;
  /** The daemon's restore root: drills restore into `drills/{id}` under it. */
  root: string;
  logger: Logger;
  settings: (e: DatabaseEntry) => DrillSettings;
  /** Start the cron schedules (default true). */
  schedules?: boolean;
  /** A drill ended (succeeded, failed, interrupted): the health monitor evaluates at once. */
  onDrillEnd?: (rec: DrillRecord) => void;
}

/** What health and metrics see of a database's drills. */
export interface DrillObservation {
  project: string;
  database: string;
  /** The newest finished drill, when it failed. */
  lastFailed: DrillRecord | null;
  /** completed_at of the newest successful drill (epoch ms), null if none. */
  lastSuccessAt: number | null;
  /** The newest finished drill (for its phase durations), null if none. */
  last: DrillRecord | null;
  maxAgeMs: number | null;
}

interface Running {
  id: string;
  stop: (() => Promise<void>) | null;
  done: Promise<DrillRecord | null>;
}

export class DrillManager implements DrillService {
  private current: Running | null = null;
  /** Scheduled drills, one after another. */
  private queue: Promise<void> = Promise.resolve();
  private readonly tasks = new Map<string, ScheduledTask>();
  /** Finished records by database and id (they never change again): health reads only new ones. */
  private readonly finished = new Map<string, Map<string, DrillRecord>>();
  private stopping = false;

  constructor(private readonly opts: DrillManagerOptions) {}

  /**
   * Scratch directories a previous daemon left (it stopped mid-drill): their servers are stopped
   * and the directories removed (called once when the daemon starts).
   */
  async removeLeftovers(): Promise<void> {
    const dir = join(this.opts.root, 'drills');
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir)) {
      const d = join(dir, name);
      if (await pgIsRunning(d)) await pgStop(d).catch(() => undefined);
      rmSync(d, { recursive: true, force: true });
      this.opts.logger.warn({ dir: d }, 'removed the scratch directory of a restore drill a previous daemon left');
    }
  }

  /** Follow the database list: one cron task per database with a drill_schedule. */
  sync(entries: readonly DatabaseEntry[]): void {
    if (this.opts.schedules === false || this.stopping) return;
    const want = new Map<string, { e: DatabaseEntry; schedule: string }>();
    for (const e of entries) {
      const schedule = this.opts.settings(e).schedule;
      if (schedule !== null) want.set(`${entryKey(e.project, e.name)}\0${schedule}`, { e, schedule });
    }
    for (const [k, t] of this.tasks) {
      if (want.has(k)) continue;
      void t.destroy();
      this.tasks.delete(k);
    }
    for (const [k, { e, schedule }] of want) {
      if (this.tasks.has(k)) continue;
      const ref = { project: e.project, name: e.name };
      this.tasks.set(k, cron.schedule(schedule, () => this.enqueue(ref.project, ref.name), { name: `drill:${entryKey(e.project, e.name)}`, noOverlap: true }));
    }
  }

  /** A scheduled drill: after the one running (if any), never beside it. */
  enqueue(projectId: string, name: string): Promise<void> {
    const run = async () => {
      while (this.current) await this.current.done;
      if (this.stopping) return;
      try {
        const e = this.opts.lookup(projectId, name);
        await (await this.launch(e, 'schedule')).done;
      } catch (err) {
        this.opts.logger.warn({ project: projectId, database: name, err: loggedError(err) }, 'scheduled restore drill did not run');
      }
    };
    this.queue = this.queue.then(run);
    return this.queue;
  }

  async start(projectId: string, name: string, req: { backupId?: string }): Promise<DrillView> {
    const e = this.opts.lookup(projectId, name);
    const started = await this.launch(e, 'api', req.backupId);
    return view(started.record);
  }

  /** Start a drill of `e` now (the CLI runs ./drill-run.ts itself). */
  async launch(e: DatabaseEntry, trigger: 'schedule' | 'api', backupId?: string): Promise<StartedDrill> {
    if (this.stopping) throw new PitrdError('CONFLICT', 'the daemon is shutting down; run the drill once it is back', { context: { database: e.name } });
    if (this.current) {
      throw new PitrdError('DRILL_IN_PROGRESS', `restore drill ${this.current.id || '(starting)'} is running on this daemon; drills run one at a time: try again once it has finished`, {
        context: { database: e.name, drill: this.current.id },
      });
    }
    const id = newId('drl');
    // Settles when the drill has ended (or was refused): what a scheduled drill waits for.
    let settle!: (rec: DrillRecord | null) => void;
    const slot: Running = { id, stop: null, done: new Promise((r) => (settle = r)) };
    this.current = slot;
    const settings = this.opts.settings(e);
    let started: StartedDrill;
    try {
      started = await startDrill({
        id,
        db: this.opts.repo.database(e),
        trigger,
        ...(backupId !== undefined ? { backupId } : {}),
        scratchDir: join(this.opts.root, 'drills', id),
        user: e.user,
        dbname: e.dbname,
        checkSql: settings.checkSql,
        onServer: (stop) => {
          slot.stop = stop;
        },
        restore: (order) =>
          this.opts.restores.launch(
            e,
            {
              target: { kind: 'latest' },
              mode: 'running',
              strictLatest: true,
              localTrust: true,
              onProgress: order.onProgress,
              recordFields: order.recordFields,
              ...(order.backupId !== undefined ? { backupId: order.backupId } : {}),
            },
            order.targetDir,
            'drill',
          ),
      });
    } catch (err) {
      this.current = null;
      settle(null);
      throw err;
    }
    this.opts.logger.info({ project: e.project, database: e.name, drill: id, backup: started.record.backup_id, restore: started.record.restore_id, trigger }, 'restore drill started');
    void started.done.then(async (rec) => {
      let end = rec;
      if (this.stopping && rec.status === 'failed') end = await this.opts.repo.database(e).drills.save({ ...rec, status: 'interrupted' }).catch(() => ({ ...rec, status: 'interrupted' as const }));
      this.remember(e, end);
      const log = { project: e.project, database: e.name, drill: id, status: end.status, phases: end.phases, rto_seconds: end.rto_seconds, wal: end.wal, failures: end.failures };
      if (end.status === 'succeeded') this.opts.logger.info(log, 'restore drill succeeded');
      else this.opts.logger.warn(log, `restore drill ${end.status}`);
      this.current = null;
      settle(end);
      try {
        this.opts.onDrillEnd?.(end);
      } catch (err) {
        this.opts.logger.warn({ drill: id, err: loggedError(err) }, 'after a restore drill: the health evaluation failed');
      }
    });
    // A drill refused at admission ended already: its record is final.
    if (started.record.status !== 'running') await slot.done;
    return started;
  }

  async list(projectId: string, name: string): Promise<DrillView[]> {
    const e = this.opts.lookup(projectId, name);
    return (await this.opts.repo.database(e).drills.list()).map(view);
  }

  async get(projectId: string, name: string, drillId: string): Promise<DrillView> {
    const e = this.opts.lookup(projectId, name);
    const rec = await this.opts.repo.database(e).drills.get(drillId);
    if (!rec) throw new PitrdError('DRILL_NOT_FOUND', `restore drill ${drillId} of database "${e.name}" not found`, { context: { name: e.name, drill_id: drillId } });
    return view(rec);
  }

  /** Per database: the newest finished drill, whether it failed, the last success (health, metrics). */
  async observe(): Promise<DrillObservation[]> {
    const out: DrillObservation[] = [];
    for (const e of this.opts.entries()) {
      const s = this.opts.settings(e);
      const maxAgeMs = s.maxAgeHours !== null ? s.maxAgeHours * 3_600_000 : null;
      const done = [...(await this.load(e)).values()].filter((r) => r.status === 'succeeded' || r.status === 'failed').sort(drillsByStart);
      const last = done[done.length - 1] ?? null;
      const ok = done.filter((r) => r.status === 'succeeded' && r.completed_at !== null).map((r) => Date.parse(r.completed_at!));
      out.push({ project: e.project, database: e.name, last, lastFailed: last?.status === 'failed' ? last : null, lastSuccessAt: ok.length ? Math.max(...ok) : null, maxAgeMs });
    }
    return out;
  }

  /** Stop schedules; a running drill's restore is interrupted by the RestoreManager, its server here. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const t of this.tasks.values()) await t.destroy();
    this.tasks.clear();
    const cur = this.current;
    if (cur) {
      await cur.stop?.().catch(() => undefined);
      await cur.done.catch(() => undefined);
    }
  }

  private remember(e: DatabaseEntry, rec: DrillRecord): void {
    if (rec.status === 'running') return;
    const k = entryKey(e.project, e.name);
    const m = this.finished.get(k) ?? new Map<string, DrillRecord>();
    m.set(rec.id, rec);
    this.finished.set(k, m);
  }

  /** Finished records of a database: a listing, and a read of each id not seen finished yet. */
  private async load(e: DatabaseEntry): Promise<Map<string, DrillRecord>> {
    const k = entryKey(e.project, e.name);
    const m = this.finished.get(k) ?? new Map<string, DrillRecord>();
    this.finished.set(k, m);
    const store = this.opts.repo.database(e).drills;
    for (const id of await store.ids()) {
      if (m.has(id) || id === this.current?.id) continue;
      const rec = await store.get(id);
      if (rec) this.remember(e, rec);
    }
    return m;
  }
}

export function view(r: DrillRecord): DrillView {
  const checks = r.checks as (DrillRecord['checks'] & { table_rows?: Array<{ table: string; rows: number }> }) | null;
  return {
    id: r.id,
    database: r.database,
    status: r.status,
    trigger: r.trigger,
    backup_id: r.backup_id,
    restore_id: r.restore_id,
    target: r.target,
    started_at: r.started_at,
    completed_at: r.completed_at,
    phases: r.phases,
    rto_seconds: r.rto_seconds,
    wal: r.wal,
    checks: checks
      ? { databases: checks.databases, tables: checks.tables, rows: checks.rows, indexes_checked: checks.indexes_checked, amcheck_unavailable: checks.amcheck_unavailable, sql_checks: checks.sql_checks, table_rows: checks.table_rows ?? [] }
      : null,
    failures: r.failures.map((f) => ({ phase: f.phase, object: f.object, code: f.code, message: f.message })),
  };
}
