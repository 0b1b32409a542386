/**
 * Recovery windows for the API: summarise newly archived WAL (one ArchiveSummarizer per
 * database, so concurrent requests share a run), then compute the windows from summaries,
 * histories and backups (src/catalog). The window shown is the newest timeline's restorable one.
 * On the same cadence, the archive is checked for gaps (./archive-gap.ts) for the health monitor.
 */
import { ArchiveSummarizer, recoveryWindow, type RecoveryWindowView } from '../catalog/index.js';
import { isPitrdError } from '../errors.js';
import type { Repository } from '../repository/index.js';
import { ArchiveGapMonitor, type ArchiveGapLogger, type ArchiveGapState } from './archive-gap.js';

const DEFAULT_INTERVAL_MS = 10_000;

export class RecoveryWindows {
  private readonly summarizers = new Map<string, ArchiveSummarizer>();
  private readonly gaps: ArchiveGapMonitor;
  private intervalMs = DEFAULT_INTERVAL_MS;

  constructor(
    private readonly repo: Repository,
    logger?: ArchiveGapLogger,
  ) {
    this.gaps = new ArchiveGapMonitor(repo, logger);
  }

  private timer: NodeJS.Timeout | null = null;

  private summarizer(name: string): ArchiveSummarizer {
    let s = this.summarizers.get(name);
    if (!s) {
      s = new ArchiveSummarizer(this.repo, name);
      this.summarizers.set(name, s);
    }
    return s;
  }

  /**
   * Keep summaries current as WAL is archived, so the window (and a restore's plan) rarely has
   * anything left to read when asked. Triggers coalesce: one run at a time per database.
   */
  startBackground(names: () => string[], intervalMs = DEFAULT_INTERVAL_MS): void {
    if (this.timer) return;
    this.intervalMs = intervalMs;
    this.timer = setInterval(() => {
      for (const name of names()) {
        this.summarizer(name).trigger();
        // Failures are logged by the monitor and keep the previous result.
        void this.gaps.check(name);
      }
    }, intervalMs);
    this.timer.unref();
  }

  /**
   * The archive-gap state of a database: the background check's last result while it is fresh
   * (younger than the background interval), otherwise a check now. null: nothing archived yet.
   */
  archiveGap(name: string): Promise<ArchiveGapState | null> {
    return this.gaps.current(name, this.intervalMs);
  }

  /** The window to show, or null when nothing was ever archived for the database. */
  async current(name: string): Promise<RecoveryWindowView | null> {
    const s = this.summarizer(name);
    s.trigger();
    await s.idle();
    let windows: RecoveryWindowView[];
    try {
      windows = await recoveryWindow(this.repo, name);
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
