/**
 * Moves complete segments and history files from the spool into the repository, in order, in the
 * background. A spooled file is deleted only after the repository confirmed it ('stored', or
 * 'exists' with the same content). Failures are retried with capped exponential backoff; while
 * storage is down the spool simply grows. A WAL_SEGMENT_CONFLICT (different bytes already
 * archived under that name) is never overwritten: the file stays in the spool, the error is
 * reported and retried only at the slowest pace.
 *
 * A segment goes to the repository as a file (WalArchive.putSegmentFile) with the sha256 the
 * segment writer computed while writing it: the 16 MiB are not read back into memory or hashed
 * again, and an fs repository links or kernel-copies them. Segments found in the spool at start
 * (left by an earlier run) have no such sum: the archive hashes the file.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { crashPoint } from '../crash/index.js';
import { PitrdError, errorMessage, isPitrdError, loggedError } from '../errors.js';
import type { WalArchive } from '../repository/types.js';
import type { Lsn } from '../types.js';
import { historyFileName, parseSegmentName } from '../wal/segment.js';
import { backoffDelay, cancellableSleep, type BackoffPolicy } from './backoff.js';
import type { Logger } from './logger.js';
import { removeDurable, scanSpool, timelineOfSegment } from './spool.js';

/** How long stop() keeps uploading the backlog while uploads succeed. */
export const DEFAULT_DRAIN_MS = 10_000;
const DRAIN_RETRY_MS = 500;

export interface UploaderOptions {
  dir: string;
  archive: WalArchive;
  segSize: number;
  backoff: BackoffPolicy;
  logger: Logger;
  /**
   * True while the receiver is catching up with the server: uploads then wait (up to
   * `maxDeferredBytes` of backlog) so replication gets the CPU and disk first; the WAL is already
   * durable in the spool and the archive follows right after.
   */
  defer?: () => boolean;
  maxDeferredBytes?: number;
  /** Awaited before each upload (the receiver's repository check); a rejection counts as a failed upload. */
  ready?: () => Promise<void>;
}

interface Item {
  kind: 'segment' | 'history';
  timeline: number;
  name: string;
  bytes: number;
  /** Of a segment's bytes, from the writer; null when unknown. */
  sha256: string | null;
}

export interface UploaderState {
  uploadedLsn: Lsn;
  lastUploaded: string | null;
  segmentsArchived: number;
  backlogSegments: number;
  backlogBytes: number;
  lastError: PitrdError | null;
  errors: number;
  conflict: boolean;
  /** When the current run of failed attempts began (epoch ms); null while uploads succeed. */
  failingSince: number | null;
  /** Failed attempts since the last successful upload. */
  consecutiveFailures: number;
}

export class Uploader {
  private readonly queued = new Map<string, Item>();
  /** Set by stop(): upload what is queued until then, then end. */
  private drainUntil: number | null = null;
  private running = false;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private sleeper: { cancel(): void } | null = null;
  private readonly st: UploaderState = {
    uploadedLsn: 0n,
    lastUploaded: null,
    segmentsArchived: 0,
    backlogSegments: 0,
    backlogBytes: 0,
    lastError: null,
    errors: 0,
    conflict: false,
    failingSince: null,
    consecutiveFailures: 0,
  };
  /** Called after each confirmed upload (tests and status watchers). */
  onProgress: (() => void) | null = null;

  constructor(private readonly opts: UploaderOptions) {}

  state(): UploaderState {
    let segs = 0;
    let bytes = 0;
    for (const it of this.queued.values()) {
      if (it.kind === 'segment') segs++;
      bytes += it.bytes;
    }
    return { ...this.st, backlogSegments: segs, backlogBytes: bytes };
  }

  /** Pick up whatever a previous run left in the spool, then start the loop. */
  async start(): Promise<void> {
    const contents = await scanSpool(this.opts.dir);
    for (const tli of contents.histories) {
      const name = historyFileName(tli);
      const size = await stat(join(this.opts.dir, name)).then((s) => s.size, () => 0);
      this.queued.set(name, { kind: 'history', timeline: tli, name, bytes: size, sha256: null });
    }
    for (const s of contents.complete) this.queued.set(s.name, { kind: 'segment', timeline: s.timeline, name: s.name, bytes: this.opts.segSize, sha256: null });
    this.running = true;
    this.loop = this.run();
  }

  /** `sha256`: of the segment's bytes as written to the spool, when known. */
  enqueueSegment(name: string, sha256: string | null = null): void {
    this.queued.set(name, { kind: 'segment', timeline: timelineOfSegment(name), name, bytes: this.opts.segSize, sha256 });
    this.poke();
  }

  enqueueHistory(timeline: number, bytes: number): void {
    const name = historyFileName(timeline);
    this.queued.set(name, { kind: 'history', timeline, name, bytes, sha256: null });
    this.poke();
  }

  /** Retry now instead of waiting out the backoff (e.g. storage is known to be back). */
  poke(): void {
    this.sleeper?.cancel();
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /**
   * Stop, after draining: the backlog keeps being uploaded (without deferring; a failure is
   * retried after 500 ms instead of the backoff) for at most `drainMs`. What is left stays
   * durable in the spool and is uploaded by the next start, so a stop during a storage outage
   * costs at most `drainMs` instead of hanging the daemon's shutdown.
   */
  async stop(drainMs = DEFAULT_DRAIN_MS): Promise<void> {
    this.drainUntil = Date.now() + drainMs;
    this.poke();
    await this.loop;
    this.running = false;
  }

  /** Resolves when the backlog is empty (or the uploader stopped). */
  async drained(): Promise<void> {
    while (this.running && this.queued.size > 0) await new Promise((r) => setTimeout(r, 50));
  }

  private next(): Item | null {
    let best: Item | null = null;
    for (const it of this.queued.values()) {
      // History files first: a timeline's history must be in the repository before its WAL.
      if (best === null) best = it;
      else if (it.kind !== best.kind) best = it.kind === 'history' ? it : best;
      else if (it.name < best.name) best = it;
    }
    return best;
  }

  private async run(): Promise<void> {
    let attempt = 0;
    while (this.running) {
      const draining = this.drainUntil !== null;
      if (draining && Date.now() >= this.drainUntil!) break;
      if (!draining && this.opts.defer?.() && this.state().backlogBytes < (this.opts.maxDeferredBytes ?? 256 * 1024 * 1024)) {
        const s = cancellableSleep(100);
        this.sleeper = s;
        await s.done;
        this.sleeper = null;
        continue;
      }
      const item = this.next();
      if (!item) {
        if (draining) break;
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        continue;
      }
      try {
        await this.upload(item);
        attempt = 0;
        this.st.conflict = false;
        this.st.lastError = null;
        this.st.failingSince = null;
        this.st.consecutiveFailures = 0;
      } catch (err) {
        const e = isPitrdError(err) ? err : new PitrdError('STORAGE_ERROR', `uploading ${item.name} failed: ${errorMessage(err)}`, { cause: err, retryable: true });
        this.st.errors++;
        this.st.lastError = e;
        this.st.failingSince ??= Date.now();
        this.st.consecutiveFailures++;
        const conflict = isPitrdError(err, 'WAL_SEGMENT_CONFLICT');
        this.st.conflict = conflict;
        if (this.drainUntil !== null) {
          // Stopping: short pauses until the deadline (a first attempt on a stale connection may
          // fail right after storage came back); what is left stays in the spool.
          this.opts.logger.warn({ err: loggedError(e), item: item.name }, 'upload failed while stopping; retrying until the drain deadline, then the backlog stays in the spool for the next start');
          const s = cancellableSleep(Math.min(DRAIN_RETRY_MS, Math.max(0, this.drainUntil - Date.now())));
          this.sleeper = s;
          await s.done;
          this.sleeper = null;
          continue;
        }
        const delay = conflict ? this.opts.backoff.maxMs : backoffDelay(attempt++, this.opts.backoff);
        this.opts.logger.warn({ err: loggedError(e), item: item.name, retry_in_ms: delay }, conflict ? 'WAL segment conflicts with the archived one; kept in spool, not overwritten' : 'upload failed; will retry');
        const s = cancellableSleep(delay);
        this.sleeper = s;
        await s.done;
        this.sleeper = null;
      }
    }
  }

  private async upload(item: Item): Promise<void> {
    await this.opts.ready?.();
    const path = join(this.opts.dir, item.name);
    const archive = this.opts.archive;
    if (item.kind === 'history') {
      await archive.putHistory(item.timeline, await readFile(path));
    } else {
      const size = (await stat(path)).size;
      if (size !== this.opts.segSize) {
        throw new PitrdError('WAL_INVALID', `spooled segment ${path} has ${size} bytes, expected ${this.opts.segSize}`, { context: { path } });
      }
      if (archive.putSegmentFile) await archive.putSegmentFile(item.timeline, item.name, { path, sha256: item.sha256 });
      else await archive.putSegment(item.timeline, item.name, await readFile(path));
    }
    crashPoint('uploader.before-spool-removal');
    await removeDurable(this.opts.dir, item.name);
    this.queued.delete(item.name);
    if (item.kind === 'segment') {
      this.st.segmentsArchived++;
      this.st.lastUploaded = item.name;
      const end = (parseSegmentName(item.name, this.opts.segSize).segno + 1n) * BigInt(this.opts.segSize);
      if (end > this.st.uploadedLsn) this.st.uploadedLsn = end;
    }
    this.opts.logger.debug({ item: item.name }, 'archived');
    this.onProgress?.();
  }
}
