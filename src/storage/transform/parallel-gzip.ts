/**
 * gzip on more than one core (the pigz idea): the input is cut into fixed-size blocks, each block
 * becomes an independent gzip member compressed on libuv's threadpool (zlib's async API), and the
 * members are emitted in input order. The concatenation of gzip members is itself a valid gzip
 * stream (RFC 1952, section 2.2): Node's gunzip, `gzip -d` and `tar -xz` read it back as one
 * stream, and objects written by the single-stream compressor before stay readable the same way.
 *
 * Why: zlib level 6 runs at roughly 100-200 MB/s per core, so a single deflate stream on the
 * main thread is what limits a base backup; with members compressed concurrently, the main
 * thread only copies bytes and the backup uses every core the machine lends it.
 *
 * Memory is bounded: at most `window` blocks are being compressed or waiting to be emitted; when
 * the window is full the writable side stops taking input (its callback is held) until the
 * oldest member is out. Restarting the dictionary every block costs a little ratio (deflate's
 * window is only 32 KiB, so with 1 MiB blocks it is well under 1%).
 */
import { Transform, type TransformCallback } from 'node:stream';
import { gzip, type ZlibOptions } from 'node:zlib';
import { isPooledBlock, releaseBlock } from '../block-pool.js';

export interface ParallelGzipOptions {
  /** zlib level 0..9 (default 6). */
  level?: number;
  /** Uncompressed bytes per gzip member (default 1 MiB). */
  blockSize?: number;
  /** Members in flight at most (default 3): the memory bound is about window x 2 x blockSize. */
  window?: number;
}

interface Member {
  out: Buffer | null;
  err: Error | null;
}

export const PARALLEL_GZIP_BLOCK = 1024 * 1024;
/**
 * Three, not more: libuv's threadpool has four threads by default and also runs every fs call of
 * the process (the receiver's spool writes and fsyncs among them); one stays free for those.
 */
export const PARALLEL_GZIP_WINDOW = 3;

export class ParallelGzip extends Transform {
  private readonly blockSize: number;
  private readonly window: number;
  private readonly zopts: ZlibOptions;
  private block: Buffer | null = null;
  private fill = 0;
  private readonly queue: Member[] = [];
  private held: TransformCallback | null = null;
  private flushed: TransformCallback | null = null;
  private submitted = 0;
  /** Highest number of members in flight at once (observability and tests of the bound). */
  peakInFlight = 0;

  constructor(opts: ParallelGzipOptions = {}) {
    super();
    const level = opts.level ?? 6;
    if (!Number.isInteger(level) || level < 0 || level > 9) throw new RangeError(`gzip level must be an integer 0..9, got ${level}`);
    this.blockSize = opts.blockSize ?? PARALLEL_GZIP_BLOCK;
    this.window = opts.window ?? PARALLEL_GZIP_WINDOW;
    if (!Number.isInteger(this.blockSize) || this.blockSize < 1) throw new RangeError(`bad block size ${this.blockSize}`);
    if (!Number.isInteger(this.window) || this.window < 1) throw new RangeError(`bad window ${this.window}`);
    // Output buffer: 128 KiB holds a whole member of data that compresses 8:1 or better (database
    // pages usually do), so such a block is one trip to the threadpool; less compressible data
    // takes a few trips. An output buffer as large as the block would make V8 run full GCs for
    // the external memory it churns through.
    // memLevel 9: zlib's largest hash table, a few percent faster at the same level and ratio
    // (the memory is per member in flight, a few hundred KiB).
    this.zopts = { level, memLevel: 9, chunkSize: 128 * 1024 };
  }

  /** Members submitted and not yet emitted. */
  get inFlight(): number {
    return this.queue.length;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.fill === 0 && chunk.length === this.blockSize && isPooledBlock(chunk)) {
      // A pooled block (block-pool.ts) that is exactly one member: compressed where it is, and
      // given back once zlib is done reading it (this stage is its last reader).
      this.submit(chunk, () => releaseBlock(chunk));
      if (this.queue.length >= this.window) this.held = cb;
      else cb();
      return;
    }
    let off = 0;
    while (off < chunk.length) {
      if (this.fill === 0 && chunk.length - off >= this.blockSize) {
        // A whole block straight from the input: no copy (upstream never reuses a chunk it
        // handed on; the protocol reader copies out of pg's reused buffer).
        this.submit(chunk.subarray(off, off + this.blockSize));
        off += this.blockSize;
        continue;
      }
      this.block ??= Buffer.allocUnsafe(this.blockSize);
      const n = Math.min(this.blockSize - this.fill, chunk.length - off);
      chunk.copy(this.block, this.fill, off, off + n);
      this.fill += n;
      off += n;
      if (this.fill === this.blockSize) {
        this.submit(this.block);
        this.block = null;
        this.fill = 0;
      }
    }
    if (this.queue.length >= this.window) this.held = cb;
    else cb();
  }

  override _flush(cb: TransformCallback): void {
    // Empty input still gets one (empty) member: a zero-byte object is not a valid gzip file.
    if (this.fill > 0 || this.submitted === 0) {
      this.submit((this.block ?? Buffer.alloc(0)).subarray(0, this.fill));
      this.block = null;
      this.fill = 0;
    }
    this.flushed = cb;
    this.emitReady();
  }

  override _destroy(err: Error | null, cb: (error: Error | null) => void): void {
    this.queue.length = 0;
    this.block = null;
    this.held = null;
    this.flushed = null;
    cb(err);
  }

  private submit(data: Buffer, consumed?: () => void): void {
    const m: Member = { out: null, err: null };
    this.queue.push(m);
    this.submitted++;
    if (this.queue.length > this.peakInFlight) this.peakInFlight = this.queue.length;
    gzip(data, this.zopts, (err, out) => {
      consumed?.();
      if (this.destroyed) return;
      if (err) m.err = err;
      else m.out = out;
      this.emitReady();
    });
  }

  /** Emit finished members from the head of the queue, in order; release held callbacks. */
  private emitReady(): void {
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      if (head.err) {
        this.destroy(head.err);
        return;
      }
      if (!head.out) break;
      this.queue.shift();
      this.push(head.out);
    }
    if (this.held && this.queue.length < this.window) {
      const cb = this.held;
      this.held = null;
      cb();
    }
    if (this.flushed && this.queue.length === 0) {
      const cb = this.flushed;
      this.flushed = null;
      cb();
    }
  }
}
