/**
 * Assembles the XLogData stream into segment files in the spool.
 *
 * `append()` is synchronous (it runs inside the socket's read callback): it queues the bytes as
 * views into the receive slab they arrived in, retaining the slab until they are written (or
 * copies them, when they come from pg's own buffer). A single background pump writes queued
 * chunks (small synchronous writes: see writeChunked). fsync is paced: with `fsyncIntervalMs` 0 (synchronous mode) after every batch, so while
 * one fsync runs the next messages pile up and share the following one (group commit);
 * otherwise at most every `fsyncIntervalMs` and at each segment end. A full segment's fsync and
 * rename run while the pump goes on with the next segment. `flushed` only moves after the fsync
 * that covers it, and every byte before it, returned: it is what may be reported to the server.
 *
 * Each segment's sha256 is computed as its bytes are written (they are in memory right then; see
 * segment-hash.ts) and handed on with the complete segment: the uploader needs it for the
 * repository's checksum and no longer has to read the 16 MiB file back to hash it.
 */
import { writeSync } from 'node:fs';
import { open, rename, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crashPoint, flushTrace } from '../crash/index.js';
import { PitrdError } from '../errors.js';
import type { Lsn } from '../types.js';
import { formatLsn } from '../wal/lsn.js';
import { segmentName, segmentOffset, segnoOf } from '../wal/segment.js';
import type { SlabHold } from '../postgres/index.js';
import { SegmentHash } from './segment-hash.js';
import { SlabPool, type SlabRef } from './slab-pool.js';
import { PARTIAL_SUFFIX, fsyncDir, removeDurable } from './spool.js';

export interface SegmentWriterOptions {
  dir: string;
  segSize: number;
  /**
   * A segment became complete and durable under its final name. `sha256` (hex) is that of the
   * bytes written to it; null if the writer could not follow them all (never in practice).
   */
  onSegmentComplete(timeline: number, name: string, endLsn: Lsn, sha256: string | null): void;
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
  private readonly hash = new SegmentHash();
  private dirty = false;
  /** End of the bytes handed to the OS (written, maybe not yet durable). */
  private written: Lsn = 0n;
  private lastSync = 0;
  /** flush() asked for an fsync now. */
  private syncRequested = false;
  /** The pacing timer fired (or a segment completed): see whether an fsync is due. */
  private syncDue = false;
  private syncTimer: NodeJS.Timeout | null = null;
  /** The fsync + rename of the last full segment, while it runs (never rejects). */
  private completing: Promise<void> | null = null;
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
    // Everything before the start point is archived or complete in the spool (start-point.ts).
    flushTrace('durable', start);
  }

  /**
   * Accept the bytes of one XLogData message. With `hold` (the receive slab `data` lies in),
   * `data` is queued as is and the slab retained until it is written; without, it is copied.
   */
  append(walStart: Lsn, data: Buffer, hold: SlabHold | null = null): void {
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
      pos += BigInt(n);
      if (hold) {
        hold.retain();
        this.queue.push({ segno, offset: inSeg, data: off === 0 && n === data.length ? data : data.subarray(off, off + n), ref: hold, end: pos });
      } else {
        // Copy: pg reuses its receive buffer once this callback returns.
        const { data: copy, ref } = this.slabs.copy(data, off, off + n);
        this.queue.push({ segno, offset: inSeg, data: copy, ref, end: pos });
      }
      off += n;
    }
    this.pendingBytes += data.length;
    this.received = pos;
    this.kick();
  }

  private kick(): void {
    if (this.pump === null && (this.queue.length > 0 || this.syncRequested || this.syncDue) && !this.failure) {
      this.pump = this.run().finally(() => {
        this.pump = null;
        if ((this.queue.length > 0 || this.syncRequested || this.syncDue) && !this.failure) this.kick();
      });
    }
  }

  /**
   * fsync now if it is due, else make sure a timer will do it. Due: always in synchronous mode
   * (interval 0) and on flush(); otherwise once `fsyncIntervalMs` passed since the last one, and
   * not while a full segment is being completed (that moves the flush position itself, and its
   * end starts the pacing again).
   */
  private async maybeSync(): Promise<void> {
    const interval = this.opts.fsyncIntervalMs ?? 0;
    this.syncDue = false;
    if (!this.syncRequested && interval > 0) {
      if (this.completing !== null) return;
      const wait = interval - (Date.now() - this.lastSync);
      if (wait > 0) {
        this.syncTimer ??= setTimeout(() => {
          this.syncTimer = null;
          this.syncDue = true;
          this.kick();
        }, wait);
        return;
      }
    }
    this.syncRequested = false;
    // The pump is the only writer and it is waiting here: `written` cannot move meanwhile.
    const upTo = this.written;
    if (this.completing) await this.completing;
    if (this.failure) return;
    if (this.fh && this.dirty) {
      await this.fh.sync();
      this.dirty = false;
      flushTrace('durable', upTo);
      crashPoint('receiver.after-fsync');
    }
    this.lastSync = Date.now();
    this.markDurable(upTo);
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
          const bufs = batch.slice(i, j).map((c) => c.data);
          this.hash.update(first.offset, bufs);
          writeChunked(fh.fd, bufs, first.offset);
          this.dirty = true;
          crashPoint('receiver.after-write');
          let bytes = 0;
          for (let k = i; k < j; k++) {
            bytes += batch[k]!.data.length;
            batch[k]!.ref.release();
          }
          this.pendingBytes -= bytes;
          this.written = batch[j - 1]!.end;
          if (expect === this.opts.segSize) await this.completeSegment();
          i = j;
        }
        await this.maybeSync();
      }
      this.opts.onDrained?.();
    } catch (err) {
      this.failure ??= this.spoolError(err);
      this.opts.onDrained?.();
    }
  }

  private spoolError(err: unknown): PitrdError {
    if (err instanceof PitrdError) return err;
    const code = (err as NodeJS.ErrnoException).code;
    // The disk is full: nothing past the last fsync was confirmed; the slot keeps the rest.
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      return new PitrdError('SPOOL_FULL', `the spool ${this.opts.dir} is full (${code}): WAL is no longer confirmed to the server, which keeps it for the slot until uploads free space`, { cause: err, retryable: true, context: { spool: this.opts.dir } });
    }
    return new PitrdError('INTERNAL_ERROR', `writing WAL to the spool ${this.opts.dir} failed: ${(err as Error).message}`, { cause: err, retryable: true, context: { spool: this.opts.dir } });
  }

  private async fileFor(segno: bigint, offset: number): Promise<FileHandle> {
    if (this.fh && this.fhSegno === segno) return this.fh;
    if (this.fh) throw new PitrdError('INTERNAL_ERROR', `segment ${segno} begins before segment ${this.fhSegno} was completed`);
    if (offset !== 0) throw new PitrdError('INTERNAL_ERROR', `segment ${segno} would start at offset ${offset}`);
    const name = segmentName(this.timeline, segno, this.opts.segSize);
    // 'w' truncates: a leftover partial from before a crash is rewritten from the segment start.
    // Default mode (umask), like every object the fs store writes: on an fs repository the
    // complete segment becomes the archived object by a hard link (same inode, same mode), and
    // a restore_command run as another OS user must be able to read it as it reads the rest.
    this.fh = await open(join(this.opts.dir, name + PARTIAL_SUFFIX), 'w');
    this.fhSegno = segno;
    this.hash.reset();
    return this.fh;
  }

  /**
   * The segment in `fh` is full. Its fsync, rename and directory fsync run while the pump goes on
   * writing the next segment (the disk flush overlaps with receiving, where pg_receivewal stops
   * for it); the flush position moves to the segment end only once that is done. One completion
   * at a time, so segments become complete, and the position moves, in order.
   */
  private async completeSegment(): Promise<void> {
    if (this.completing) await this.completing;
    if (this.failure) throw this.failure;
    const fh = this.fh!;
    const segno = this.fhSegno;
    const end = this.written;
    const sha256 = this.hash.finish(this.opts.segSize);
    this.fh = null;
    this.fhSegno = -1n;
    this.dirty = false;
    const name = segmentName(this.timeline, segno, this.opts.segSize);
    const done = (async () => {
      try {
        await fh.sync();
      } finally {
        await fh.close().catch(() => undefined);
      }
      crashPoint('receiver.segment-fsynced');
      await rename(join(this.opts.dir, name + PARTIAL_SUFFIX), join(this.opts.dir, name));
      crashPoint('receiver.segment-renamed');
      await fsyncDir(this.opts.dir);
      flushTrace('durable', end);
      crashPoint('receiver.segment-complete');
    })().then(
      () => {
        this.completing = null;
        this.lastSync = Date.now();
        this.opts.onSegmentComplete(this.timeline, name, (segno + 1n) * BigInt(this.opts.segSize), sha256);
        this.markDurable(end);
        // Bytes of the next segment may be waiting for their (paced) fsync.
        this.syncDue = true;
        this.kick();
      },
      (err: unknown) => {
        this.completing = null;
        this.failure ??= this.spoolError(err);
        this.opts.onDrained?.();
      },
    );
    this.completing = done;
  }

  /** Wait until everything appended so far is durable (or the writer failed). */
  async flush(): Promise<void> {
    while (this.pump !== null || this.completing !== null) await (this.pump ?? this.completing);
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
    while (this.completing !== null) await this.completing;
    if (this.syncTimer) clearTimeout(this.syncTimer);
    this.syncTimer = null;
    const fh = this.fh;
    const segno = this.fhSegno;
    this.fh = null;
    this.fhSegno = -1n;
    for (const c of this.queue) c.ref.release();
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

/**
 * Write `bufs` at `pos`: synchronously (a copy into the page cache, microseconds per call; the
 * fsyncs stay on the thread pool) and at most WRITE_CHUNK bytes per call. The kernel sizes page
 * cache folios by the write: multi-MiB writev calls asked for high-order blocks, which on a VM
 * that hands free memory back to its host (virtio-balloon free page reporting) had to be faulted
 * in again page by page (measured: 2-2.5 s of system CPU per GB instead of 0.5, whenever the
 * previous run's memory had been reported), where small writes reuse recently freed pages, as
 * pg_receivewal's 8 KiB writes do. No thread pool round trip per write either.
 */
const WRITE_CHUNK = 32 * 1024;
function writeChunked(fd: number, bufs: readonly Buffer[], pos: number): void {
  for (const b of bufs) {
    let off = 0;
    while (off < b.length) {
      const n = writeSync(fd, b, off, Math.min(WRITE_CHUNK, b.length - off), pos);
      off += n;
      pos += n;
    }
  }
}
