import { isPitrdError } from '../errors.js';
import type { DatabaseRef, Repository } from '../repository/index.js';
import { summarizeArchive, type SummarizeResult } from './summarize.js';

export interface SummarizerStatus {
  state: 'idle' | 'running';
  runs: number;
  last_run_at: string | null;
  last_result: SummarizeResult | null;
  last_error: { code: string; message: string; at: string } | null;
}

/**
 * Background summarising for the daemon: trigger() after segments are archived. Triggers while a
 * run is under way coalesce into one follow-up run; only one run at a time; failures land in
 * status() instead of being thrown at the caller (the archive itself is unaffected by them).
 */
export class ArchiveSummarizer {
  private running: Promise<void> | null = null;
  private again = false;
  private st: SummarizerStatus = { state: 'idle', runs: 0, last_run_at: null, last_result: null, last_error: null };

  /**
   * `run` does one summarising pass (default: summarizeArchive on this thread); the daemon passes
   * one that runs it on a worker thread, so decoding never blocks its event loop.
   */
  constructor(
    private readonly repo: Repository,
    private readonly db: DatabaseRef,
    private readonly run: (repo: Repository, db: DatabaseRef) => Promise<SummarizeResult> = summarizeArchive,
    /** Told when a run read schema changes (relation names may have changed: the event index's maps). */
    private readonly onCatalogChange?: (db: DatabaseRef) => void,
  ) {}

  /** Ask for a run; returns at once. */
  trigger(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.loop().finally(() => {
      this.running = null;
    });
  }

  /** Resolves when no run is under way or pending (for shutdown and tests). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  status(): SummarizerStatus {
    return { ...this.st };
  }

  private async loop(): Promise<void> {
    do {
      this.again = false;
      this.st.state = 'running';
      try {
        const r = await this.run(this.repo, this.db);
        this.st.last_result = r;
        if (r.catalogChanged) this.onCatalogChange?.(this.db);
        this.st.last_error = r.failed.length
          ? { code: r.failed[0]!.code, message: `${r.failed.length} segment(s) could not be summarised, first ${r.failed[0]!.segment}: ${r.failed[0]!.message}`, at: new Date().toISOString() }
          : null;
      } catch (err) {
        this.st.last_error = { code: isPitrdError(err) ? err.code : 'INTERNAL', message: err instanceof Error ? err.message : String(err), at: new Date().toISOString() };
      }
      this.st.runs++;
      this.st.last_run_at = new Date().toISOString();
      this.st.state = 'idle';
    } while (this.again);
  }
}
