/**
 * Assembles the XLogData stream into segment files in the spool.
 *
 * `append()` is synchronous (it runs inside pg's data callback and copies the bytes); a single
 * background pump writes queued chunks. fsync is paced: with `fsyncIntervalMs` 0 (synchronous
 * mode) after every batch, so while one fsync runs the next messages pile up and share the
 * following one (group commit); otherwise at most every `fsyncIntervalMs` and at each segment end,
 * which keeps throughput at pg_receivewal's level. `flushed` only moves after the fsync that
 * covers it returned: it is what may be reported to the server.
 */
import { open, rename, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { PitrdError } from '../errors.js';
import type { Lsn } from '../types.js';
import { formatLsn } from '../wal/lsn.js';
import { segmentName, segmentOffset, segnoOf } from '../wal/segment.js';
import { SlabPool, type SlabRef } from './slab-pool.js';
import { PARTIAL_SUFFIX, fsyncDir, removeDurable } from './spool.js';

export interface SegmentWriterOptions {
  dir: string;
  segSize: number;
  /** A segment became complete and durable under its final name. */
  onSegmentComplete(timeline: number, name: string, endLsn: Lsn): void;
  /** `lsn` and everything before it is durable. */
  onFlushed(lsn: Lsn): void;
  /** The pump caught up (pending bytes fell to zero). */
  onDrained?(): void;
  /** Minimum time between fsyncs of the partial segment; 0 = after every batch. */
  fsyncIntervalMs?: number;
}

interface Chunk {
  segno: bigint;
  offset: number;
  data: Buffer;
  ref: SlabRef;
  end: Lsn;
}

export class SegmentWriter {
  private timeline = 0;
  private received: Lsn = 0n;
  private durable: Lsn = 0n;
  private queue: Chunk[] = [];
  private pendingBytes = 0;
  private pump: Promise<void> | null = null;
  private failure: PitrdError | null = null;
  private fh: FileHandle | null = null;
  private fhSegno = -1n;
  private dirty = false;
  /** End of the bytes handed to the OS (written, maybe not yet durable). */
  private written: Lsn = 0n;
  private lastSync = 0;
  private syncRequested = false;
  private syncTimer: NodeJS.Timeout | null = null;
  private readonly slabs = new SlabPool();

  constructor(private readonly opts: SegmentWriterOptions) {}

  get receivedLsn(): Lsn {
    return this.received;
  }

  get flushedLsn(): Lsn {
    return this.durable;
  }

  get pending(): number {
    return this.pendingBytes;
  }

  get error(): PitrdError | null {
    return this.failure;
  }

  /** Begin writing `timeline` at `start`, which must be a segment boundary. */
  begin(timeline: number, start: Lsn): void {
    if (segmentOffset(start, this.opts.segSize) !== 0) {
      throw new PitrdError('INTERNAL_ERROR', `streaming must start at a segment boundary, not ${formatLsn(start)}`);
    }
    if (this.queue.length > 0 || this.fh !== null) {
      throw new PitrdError('INTERNAL_ERROR', 'SegmentWriter.begin() while a previous stream is still open');
    }
    this.timeline = timeline;
    this.received = start;
    this.durable = start;
    this.written = start;
  }

  /** Accept the bytes of one XLogData message. Copies `data`. */
  append(walStart: Lsn, data: Buffer): void {
    if (this.failure) throw this.failure;
    if (walStart !== this.received) {
      throw new PitrdError(
        'REPLICATION_ERROR',
        `XLogData starts at ${formatLsn(walStart)} but the stream so far ends at ${formatLsn(this.received)}: the server skipped or repeated WAL`,
        { context: { expected: formatLsn(this.received), got: formatLsn(walStart) }, retryable: true },
      );
    }
    const seg = BigInt(this.opts.segSize);
    let pos = walStart;
    let off = 0;
    while (off < data.length) {
      const segno = pos / seg;
      const inSeg = Number(pos % seg);
      const n = Math.min(data.length - off, this.opts.segSize - inSeg);
      // Copy: pg reuses its receive buffer once this callback returns.
      const { data: copy, ref } = this.slabs.copy(data, off, off + n);
      pos += BigInt(n);
      this.queue.push({ segno, offset: inSeg, data: copy, ref, end: pos });
      off += n;
    }
    this.pendingBytes += data.length;
    this.received = pos;
    this.kick();
  }

  private kick(): void {
    if (this.pump === null && (this.queue.length > 0 || this.syncRequested) && !this.failure) {
      this.pump = this.run().finally(() => {
        this.pump = null;
        if ((this.queue.length > 0 || this.syncRequested) && !this.failure) this.kick();
      });
    }
  }

  /** fsync now if it is due, else make sure a timer will do it. */
  private async maybeSync(): Promise<void> {
    const interval = this.opts.fsyncIntervalMs ?? 0;
    const due = this.syncRequested || interval === 0 || Date.now() - this.lastSync >= interval;
    if (!due) {
      if (this.syncTimer === null) {
        this.syncTimer = setTimeout(() => {
          this.syncTimer = null;
          this.syncRequested = true;
          this.kick();
        }, Math.max(1, interval - (Date.now() - this.lastSync)));
      }
      return;
    }
    this.syncRequested = false;
    if (this.fh && this.dirty) {
      await this.fh.sync();
      this.dirty = false;
    }
    this.lastSync = Date.now();
    this.markDurable(this.written);
  }

  private markDurable(lsn: Lsn): void {
    if (lsn <= this.durable) return;
    this.durable = lsn;
    this.opts.onFlushed(lsn);
  }

  private async run(): Promise<void> {
    try {
      if (this.queue.length === 0) await this.maybeSync();
      while (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        let i = 0;
        while (i < batch.length) {
          // Coalesce consecutive chunks of one segment into one writev.
          const first = batch[i]!;
          let j = i + 1;
          let expect = first.offset + first.data.length;
          while (j < batch.length && batch[j]!.segno === first.segno && batch[j]!.offset === expect) {
            expect += batch[j]!.data.length;
            j++;
          }
          const fh = await this.fileFor(first.segno, first.offset);
          await fh.writev(batch.slice(i, j).map((c) => c.data), first.offset);
          this.dirty = true;
          let bytes = 0;
          for (let k = i; k < j; k++) {
            bytes += batch[k]!.data.length;
            batch[k]!.ref.release();
          }
          this.pendingBytes -= bytes;
          this.written = batch[j - 1]!.end;
          if (expect === this.opts.segSize) {
            // completeSegment fsyncs the file: everything up to the segment end is durable.
            await this.completeSegment();
            this.markDurable(this.written);
          }
          i = j;
        }
        await this.maybeSync();
      }
      this.opts.onDrained?.();
    } catch (err) {
      this.failure =
        err instanceof PitrdError
          ? err
          : new PitrdError('INTERNAL_ERROR', `writing WAL to the spool ${this.opts.dir} failed: ${(err as Error).message}`, { cause: err, retryable: true, context: { spool: this.opts.dir } });
      this.opts.onDrained?.();
    }
  }

  private async fileFor(segno: bigint, offset: number): Promise<FileHandle> {
    if (this.fh && this.fhSegno === segno) return this.fh;
    if (this.fh) throw new PitrdError('INTERNAL_ERROR', `segment ${segno} begins before segment ${this.fhSegno} was completed`);
    if (offset !== 0) throw new PitrdError('INTERNAL_ERROR', `segment ${segno} would start at offset ${offset}`);
    const name = segmentName(this.timeline, segno, this.opts.segSize);
    // 'w' truncates: a leftover partial from before a crash is rewritten from the segment start.
    this.fh = await open(join(this.opts.dir, name + PARTIAL_SUFFIX), 'w');
    this.fhSegno = segno;
    return this.fh;
  }

  private async completeSegment(): Promise<void> {
    const fh = this.fh!;
    const segno = this.fhSegno;
    await fh.sync();
    await fh.close();
    this.fh = null;
    this.fhSegno = -1n;
    this.dirty = false;
    const name = segmentName(this.timeline, segno, this.opts.segSize);
    await rename(join(this.opts.dir, name + PARTIAL_SUFFIX), join(this.opts.dir, name));
    await fsyncDir(this.opts.dir);
    this.opts.onSegmentComplete(this.timeline, name, (segno + 1n) * BigInt(this.opts.segSize));
  }

  /** Wait until everything appended so far is durable (or the writer failed). */
  async flush(): Promise<void> {
    while (this.pump !== null) await this.pump;
    if (this.failure) throw this.failure;
    if (this.durable < this.written) {
      this.syncRequested = true;
      this.kick();
      while (this.pump !== null) await this.pump;
      if (this.failure) throw this.failure;
    }
  }

  /**
   * Close the stream. `dropPartial`: at the end of a timeline, the unfinished last segment of the
   * old timeline is removed; the next timeline's first segment repeats its bytes up to the switch.
   */
  async close(dropPartial = false): Promise<void> {
    await this.flush().catch(() => undefined);
    if (this.syncTimer) clearTimeout(this.syncTimer);
    this.syncTimer = null;
    const fh = this.fh;
    const segno = this.fhSegno;
    this.fh = null;
    this.fhSegno = -1n;
    this.queue = [];
    this.pendingBytes = 0;
    if (fh) {
      await fh.sync().catch(() => undefined);
      await fh.close().catch(() => undefined);
      if (dropPartial) await removeDurable(this.opts.dir, segmentName(this.timeline, segno, this.opts.segSize) + PARTIAL_SUFFIX);
    }
    if (this.failure) throw this.failure;
  }

  /** For logs: the segment holding the received position. */
  currentSegment(): string {
    return segmentName(this.timeline, segnoOf(this.received, this.opts.segSize), this.opts.segSize);
  }
}
