/**
 * Periodic health evaluation of every protected database: receiver down, upload backlog, WAL
 * retained on the server by the replication slot, age of the last completed base backup, gaps in
 * the archived WAL, WAL a receiver found lost at its start (raised within a second). Changes (raised / cleared) go to the alert webhook when one is configured; the
 * active set is served by GET .../health and the pitrd_alert_active gauge, the measured values by
 * pitrd_slot_retained_bytes and pitrd_archive_gap_segments (src/daemon/metrics.ts).
 */
import type { Logger } from 'pino';
import { errorMessage, isPitrdError, loggedError } from '../errors.js';
import { binDirFor, hostBinDirs } from '../postgres/cluster/index.js';
import type { ReceiverStatus } from '../receiver/index.js';
import { DEFAULT_UPLOAD_FAILURE_MS, diffAlerts, evaluateHealth, type Alert, type DrillHealth, type HealthThresholds, type WebhookNotifier } from '../health/index.js';
import type { ArchiveGapState } from './archive-gap.js';
import { slotRetainedBytes } from '../postgres/index.js';
import { entryConnection, entryKey, type DatabaseEntry } from './entry.js';
import type { DrillObservation } from './drills.js';

const SLOT_FRESH_MS = 2_000;
const GAP_WATCH_MS = 1_000;

/** What the last evaluation measured for one database (null: unknown / not applicable). */
export interface HealthMeasurement {
  project: string;
  database: string;
  slotRetainedBytes: number | null;
  /** Missing archived segments (0: continuous); null until the archive has anything. */
  archiveGapSegments: number | null;
}

export const DEFAULT_THRESHOLDS: HealthThresholds = {
  uploadBacklogBytes: 256 * 1024 * 1024,
  slotRetainedBytes: 1024 * 1024 * 1024,
  // Daily backups plus two hours of slack for a slow one.
  backupMaxAgeMs: 26 * 3_600_000,
  uploadFailureMs: DEFAULT_UPLOAD_FAILURE_MS,
};

/**
 * The repository could not be read because storage is down or failing (not because of what it
 * holds): such a failure says nothing about backups or gaps, it is its own alert.
 */
function storageFault(err: unknown): string | null {
  if (!isPitrdError(err)) return null;
  if (err.code === 'STORAGE_UNAVAILABLE' || err.code === 'STORAGE_ERROR' || err.retryable) return `${err.code}: ${err.message}`;
  return null;
}

export interface HealthMonitorOptions {
  entries: () => DatabaseEntry[];
  /**
   * Stop time (epoch ms) of the newest completed backup of each database, null if none, or the
   * error that kept the backups from being listed.
   */
  lastBackups: () => Promise<Map<string, number | null | { error: unknown }>>;
  notifier: WebhookNotifier | null;
  logger: Logger;
  thresholds?: HealthThresholds;
  intervalMs?: number;
  /** Bytes the server retains for the slot (default: asks the server; tests may pass their own). */
  slotRetained?: (entry: DatabaseEntry) => Promise<number | null>;
  /**
   * The archive's gap state (RecoveryWindows.archiveGap: refreshed on the summarizer's cadence,
   * a LIST and no segment read). Without it the archive gap is not evaluated.
   */
  archiveGap?: (entry: DatabaseEntry) => Promise<ArchiveGapState | null>;
  /**
   * The database's PostgreSQL major as the repository recorded it (database.json's pg_version),
   * null while unknown. With it, a major this host has no server binaries for raises
   * `binaries_missing`: WAL and backups still work, restores and branches would be refused.
   */
  serverMajor?: (entry: DatabaseEntry) => Promise<number | null>;
  /** Restore drills per database (DrillManager.observe); without it drills are not evaluated. */
  drills?: () => Promise<DrillObservation[]>;
}

export class HealthMonitor {
  private active: Alert[] = [];
  private measured: HealthMeasurement[] = [];
  private timer: NodeJS.Timeout | null = null;
  private gapWatch: NodeJS.Timeout | null = null;
  private running: Promise<Alert[]> | null = null;
  /**
   * The slot answer per database for SLOT_FRESH_MS. Asking opens a connection and authenticates
   * (SCRAM costs CPU on both ends): a dashboard polling /health many times a second must not become
   * as many logins on the database pitrd protects. Slot retention moves over minutes, not ms.
   */
  private readonly slotAnswers = new Map<string, { at: number; bytes: number | null }>();

  constructor(private readonly opts: HealthMonitorOptions) {}

  start(): void {
    if (this.timer) return;
    const evaluate = () => void this.evaluate().catch((err: unknown) => this.opts.logger.warn({ err: loggedError(err) }, 'health evaluation failed'));
    this.timer = setInterval(evaluate, this.opts.intervalMs ?? 60_000);
    this.timer.unref();
    // Lost WAL is raised at once, not at the next evaluation: a receiver's status is read in memory.
    this.gapWatch = setInterval(() => {
      if (this.opts.entries().some((e) => e.receiver?.status().gap && !this.active.some((a) => a.key === `${entryKey(e.project, e.name)}:wal_lost`))) evaluate();
    }, GAP_WATCH_MS);
    this.gapWatch.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.gapWatch) clearInterval(this.gapWatch);
    this.timer = null;
    this.gapWatch = null;
    await this.running?.catch(() => undefined);
  }

  /** The alerts active after the last evaluation. */
  alerts(project?: string, database?: string): Alert[] {
    return this.active.filter((a) => (project === undefined || a.project === project) && (database === undefined || a.database === database));
  }

  /** The values the last evaluation measured, per database (for /metrics). */
  measurements(): HealthMeasurement[] {
    return this.measured;
  }

  /** Evaluate every database now; one evaluation at a time (a second caller shares it). */
  evaluate(): Promise<Alert[]> {
    this.running ??= this.once().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  /** A major, once known, does not change under a database (pg_upgrade makes a new system): asked until known. */
  private readonly majors = new Map<string, number>();

  private async binariesMissing(e: DatabaseEntry): Promise<string | null> {
    if (!this.opts.serverMajor) return null;
    const key = entryKey(e.project, e.name);
    let major = this.majors.get(key) ?? null;
    if (major === null) {
      // Unknown (nothing streamed yet, storage down: storage_unavailable says so) raises nothing.
      major = await this.opts.serverMajor(e).catch(() => null);
      if (major === null) return null;
      this.majors.set(key, major);
    }
    try {
      binDirFor(major, hostBinDirs());
      return null;
    } catch (err) {
      return errorMessage(err);
    }
  }

  private async slotRetainedRecent(e: DatabaseEntry, ask: (entry: DatabaseEntry) => Promise<number | null>, now: number): Promise<number | null> {
    const key = `${e.project}\0${e.name}\0${e.slotName}`;
    const hit = this.slotAnswers.get(key);
    if (hit && now - hit.at < SLOT_FRESH_MS) return hit.bytes;
    const bytes = await ask(e);
    this.slotAnswers.set(key, { at: now, bytes });
    return bytes;
  }

  private async once(): Promise<Alert[]> {
    const now = Date.now();
    const last = await this.opts.lastBackups();
    const current: Alert[] = [];
    const slotRetained = this.opts.slotRetained ?? ((entry: DatabaseEntry) => slotRetainedBytes(entryConnection(entry), entry.slotName));
    const measured: HealthMeasurement[] = [];
    const drills = new Map<string, DrillHealth>();
    if (this.opts.drills) {
      try {
        for (const d of await this.opts.drills()) drills.set(entryKey(d.project, d.database), drillHealth(d));
      } catch (err) {
        // Unknown is not healed: the drill alerts stay as they were until a listing succeeds.
        this.opts.logger.warn({ err: loggedError(err) }, 'restore drills could not be read for health');
        current.push(...this.active.filter((a) => a.kind === 'drill_failed' || a.kind === 'drill_stale').map((a) => ({ ...a })));
      }
    }
    for (const e of this.opts.entries()) {
      const status = e.receiver?.status() ?? null;
      // Only a PITR database has a slot to worry about (disable keeps it, but then receiver_down is moot).
      const retained = e.pitr.enabled ? await this.slotRetainedRecent(e, slotRetained, now) : null;
      // Every database with an archive, PITR on or off: a restore may still need its WAL.
      let gap: ArchiveGapState | null = null;
      let storageError: string | null = null;
      const backups = last.get(entryKey(e.project, e.name)) ?? null;
      let lastBackupAt: number | null | undefined = null;
      if (backups !== null && typeof backups === 'object') {
        lastBackupAt = undefined;
        storageError = storageFault(backups.error);
        // Unknown is not healed: an active backup_stale alert stays until a listing says otherwise.
        const prev = this.active.find((a) => a.key === `${entryKey(e.project, e.name)}:backup_stale`);
        if (prev) current.push({ ...prev });
      } else lastBackupAt = backups;
      if (this.opts.archiveGap) {
        try {
          gap = await this.opts.archiveGap(e);
        } catch (err) {
          storageError ??= storageFault(err);
          this.opts.logger.warn({ project: e.project, database: e.name, err: loggedError(err) }, 'archive gap check failed');
          // Unknown is not healed: an active gap alert stays until a check says otherwise.
          const prev = this.active.find((a) => a.key === `${e.project}/${e.name}:archive_gap`);
          if (prev) current.push({ ...prev });
        }
      }
      measured.push({ project: e.project, database: e.name, slotRetainedBytes: retained, archiveGapSegments: gap ? gap.missingSegments : null });
      const up = !e.pitr.enabled || status?.status === 'running' || spoolPaused(status);
      current.push(
        ...evaluateHealth(
          {
            project: e.project,
            database: e.name,
            archiveGap: gap?.gap ?? null,
            uploadBacklogBytes: status?.upload_backlog.bytes ?? 0,
            slotRetainedBytes: retained,
            lastSuccessfulBackupAt: lastBackupAt,
            // Without PITR there is no receiver to be down.
            // A full spool (spool.max_bytes, or a full disk: SPOOL_FULL) is its own alert, not a receiver down.
            receiverUp: up,
            receiverError: !up && status?.last_error ? { code: status.last_error.code, message: status.last_error.message } : null,
            spoolFull: spoolPaused(status) ? (status?.last_error?.message ?? 'the spool is full') : null,
            receiverGap: status?.gap ?? null,
            storageError,
            uploadFailingSince: status?.upload_error ? Date.parse(status.upload_error.since) : null,
            uploadFailures: status?.upload_error?.consecutive_failures ?? 0,
            uploadError: status?.upload_error ? { code: status.upload_error.code, message: status.upload_error.message } : null,
            binariesMissing: await this.binariesMissing(e),
            drill: drills.get(entryKey(e.project, e.name)) ?? null,
          },
          this.opts.thresholds ?? DEFAULT_THRESHOLDS,
          now,
        ),
      );
    }
    const { active, changes } = diffAlerts(this.active, current, now);
    this.active = active;
    this.measured = measured;
    for (const c of changes) {
      this.opts.logger.warn({ alert: c.alert.key, state: c.state }, `alert ${c.state}: ${c.alert.message}`);
      if (this.opts.notifier) await this.opts.notifier.notify(c);
    }
    return active;
  }
}

function drillHealth(d: DrillObservation): DrillHealth {
  const f = d.lastFailed;
  const first = f?.failures[0];
  return {
    lastFailed: f ? { id: f.id, backupId: f.backup_id, at: f.completed_at ?? f.started_at, phase: first?.phase ?? null, object: first?.object ?? null, code: first?.code ?? null, message: first ? first.message.slice(0, 600) : null } : null,
    lastSuccessAt: d.lastSuccessAt,
    maxAgeMs: d.maxAgeMs,
  };
}

/** The receiver waits for room in its spool: paused at spool.max_bytes, or retrying a SPOOL_FULL write. */
function spoolPaused(status: ReceiverStatus | null | undefined): boolean {
  return status?.status === 'spool_full' || (status?.last_error?.code === 'SPOOL_FULL' && status.status !== 'running');
}
