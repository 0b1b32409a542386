/**
 * Recovery windows for the API: summarise newly archived WAL (one ArchiveSummarizer per
 * database, so concurrent requests share a run), then compute the windows from summaries,
 * histories and backups (src/catalog). The window shown is the newest timeline's restorable one.
 * On the same cadence, the archive is checked for gaps (./archive-gap.ts) for the health monitor.
 */
import { ArchiveSummarizer, recoveryWindow, type RecoveryWindowView, type SummarizeResult } from '../catalog/index.js';
import { isPitrdError } from '../errors.js';
import { refKey, type DatabaseRef, type Repository } from '../repository/index.js';
import { ArchiveGapMonitor, type ArchiveGapLogger, type ArchiveGapState } from './archive-gap.js';

/** Where summarising and window computation run instead of this thread (the daemon's catalog thread, src/daemon/catalog-thread.ts). */
export interface CatalogWorker {
  summarize(database: DatabaseRef): Promise<SummarizeResult>;
  windows(database: DatabaseRef): Promise<RecoveryWindowView[]>;
}

const DEFAULT_INTERVAL_MS = 10_000;
/**
 * How old a computed window may be when served as is. Computing one lists the archive and reads
 * its summaries (tens of ms), after summarising newly archived WAL (hundreds of ms per segment on
 * a busy machine); dashboards poll status endpoints many times a second. One second of staleness
 * is invisible next to the receiver's own lag, and a backup finishing, being deleted or expired
 * invalidates the cache at once (invalidate()), so `from` never lags a catalog change.
 */
const WINDOW_FRESH_MS = 1_000;
/**
 * Past WINDOW_FRESH_MS a new computation starts, but until it is done requests are answered from
 * the previous result (same invalidation generation) if it is younger than this: a poll does not
 * wait for segments to be decoded. Older than this (e.g. the computation is stuck on storage),
 * requests wait for the new one.
 */
const WINDOW_STALE_MS = 30_000;

interface Cached {
  /** The invalidation generation it was started in: a newer generation never joins an older run. */
  generation: number;
  startedAt: number;
  result: Promise<unknown>;
  running: boolean;
}

export class RecoveryWindows {
  private readonly summarizers = new Map<string, ArchiveSummarizer>();
  /** Keyed `${what}\0${database}`. */
  private readonly cache = new Map<string, Cached>();
  private readonly generations = new Map<string, number>();
  /** The last successful result per cache key, and when its computation started. */
  private readonly lastGood = new Map<string, { generation: number; at: number; value: unknown }>();
  private readonly gaps: ArchiveGapMonitor;
  private intervalMs = DEFAULT_INTERVAL_MS;

  /** `thread`: summarise and compute windows there rather than on the event loop (the daemon's case). */
  constructor(
    private readonly repo: Repository,
    logger?: ArchiveGapLogger,
    private readonly thread?: CatalogWorker,
  ) {
    this.gaps = new ArchiveGapMonitor(repo, logger);
  }

  private timer: NodeJS.Timeout | null = null;
  private catalogChangeHandler: ((ref: DatabaseRef) => void) | null = null;

  /** Told when summarising read schema changes of a database (the event index's relation maps follow). */
  onCatalogChange(handler: (ref: DatabaseRef) => void): void {
    this.catalogChangeHandler = handler;
  }

  private summarizer(ref: DatabaseRef): ArchiveSummarizer {
    let s = this.summarizers.get(refKey(ref));
    if (!s) {
      const t = this.thread;
      const changed = (db: DatabaseRef) => this.catalogChangeHandler?.(db);
      s = t ? new ArchiveSummarizer(this.repo, ref, (_repo, db) => t.summarize(db), changed) : new ArchiveSummarizer(this.repo, ref, undefined, changed);
      this.summarizers.set(refKey(ref), s);
    }
    return s;
  }

  /**
   * Keep summaries current as WAL is archived, so the window (and a restore's plan) rarely has
   * anything left to read when asked. Triggers coalesce: one run at a time per database.
   */
  startBackground(refs: () => DatabaseRef[], intervalMs = DEFAULT_INTERVAL_MS): void {
    if (this.timer) return;
    this.intervalMs = intervalMs;
    this.timer = setInterval(() => {
      for (const ref of refs()) {
        this.summarizer(ref).trigger();
        // Failures are logged by the monitor and keep the previous result.
        void this.gaps.check(ref);
      }
    }, intervalMs);
    this.timer.unref();
  }

  /**
   * The archive-gap state of a database: the background check's last result while it is fresh
   * (younger than the background interval), otherwise a check now. null: nothing archived yet.
   */
  archiveGap(ref: DatabaseRef): Promise<ArchiveGapState | null> {
    return this.gaps.current(ref, this.intervalMs);
  }

  /** The backups of a database changed: the next request computes its window afresh. */
  invalidate(ref: DatabaseRef): void {
    const name = refKey(ref);
    this.generations.set(name, (this.generations.get(name) ?? 0) + 1);
    for (const k of [...this.cache.keys()]) if (k.endsWith(`\0${name}`)) this.cache.delete(k);
    for (const k of [...this.lastGood.keys()]) if (k.endsWith(`\0${name}`)) this.lastGood.delete(k);
  }

  /** The id of the newest completed base backup (pitr/config's base_backup_id), cached like the window. */
  newestCompletedBackup(ref: DatabaseRef): Promise<string | null> {
    return this.memo('newest-backup', ref, async () => {
      const all = await this.repo.database(ref).backups.list();
      for (let i = all.length - 1; i >= 0; i--) if (all[i]!.status === 'completed') return all[i]!.id;
      return null;
    });
  }

  /**
   * The window to show, or null when nothing was ever archived for the database. Concurrent
   * requests share one computation; a result younger than WINDOW_FRESH_MS is served as is, an
   * older one (up to WINDOW_STALE_MS) while its replacement is computed.
   */
  current(ref: DatabaseRef): Promise<RecoveryWindowView | null> {
    return this.memo('window', ref, () => this.compute(ref));
  }

  private memo<T>(what: string, ref: DatabaseRef, compute: () => Promise<T>): Promise<T> {
    const name = refKey(ref);
    const key = `${what}\0${name}`;
    const generation = this.generations.get(name) ?? 0;
    const now = Date.now();
    const c = this.cache.get(key);
    const current = c && c.generation === generation ? c : undefined;
    const g = this.lastGood.get(key);
    const good = g && g.generation === generation && now - g.at < WINDOW_STALE_MS ? g : undefined;
    if (current && !current.running && now - current.startedAt < WINDOW_FRESH_MS) return current.result as Promise<T>;
    if (current?.running) return good ? Promise.resolve(good.value as T) : (current.result as Promise<T>);
    const started = this.start(key, generation, compute);
    // Stale: the new computation runs in the background; the last good result answers meanwhile.
    return good ? Promise.resolve(good.value as T) : started;
  }

  private start<T>(key: string, generation: number, compute: () => Promise<T>): Promise<T> {
    const entry: Cached = { generation, startedAt: Date.now(), result: compute(), running: true };
    this.cache.set(key, entry);
    entry.result.then(
      (value) => {
        entry.running = false;
        if (this.cache.get(key) === entry) this.lastGood.set(key, { generation, at: entry.startedAt, value });
      },
      () => {
        entry.running = false;
        // A failure is not cached: the next request tries again.
        if (this.cache.get(key) === entry) this.cache.delete(key);
      },
    );
    return entry.result as Promise<T>;
  }

  private async compute(ref: DatabaseRef): Promise<RecoveryWindowView | null> {
    const s = this.summarizer(ref);
    s.trigger();
    await s.idle();
    let windows: RecoveryWindowView[];
    try {
      windows = this.thread ? await this.thread.windows(ref) : await recoveryWindow(this.repo, ref);
    } catch (err) {
      // No database.json yet: no WAL and no backup was ever stored.
      if (isPitrdError(err, 'OBJECT_NOT_FOUND')) return null;
      throw err;
    }
    const newestFirst = [...windows].sort((a, b) => b.timeline - a.timeline);
    return newestFirst.find((w) => w.status === 'ok') ?? newestFirst[0] ?? null;
  }

  /** Wait for running summaries (shutdown). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await Promise.all([...this.summarizers.values()].map((s) => s.idle()));
    await this.gaps.idle();
  }
}
