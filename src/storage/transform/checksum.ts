import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { PitrdError } from '../../errors.js';
import { releaseBlock, retainBlock } from '../block-pool.js';
import { ThreadedSha256 } from './hash-thread.js';

/**
 * Objects up to this size are hashed on the calling thread; past it the hashing moves to the
 * helper thread (hash-thread.ts), where it runs beside compression and I/O instead of in front
 * of them. Small objects (metadata, summaries) would only pay the messages.
 */
export const OFF_THREAD_MIN_BYTES = 2 * 1024 * 1024;

/**
 * Passes bytes through unchanged while counting them and hashing them with sha256. On the way
 * in it measures the original bytes; on the way out, given the expected digest, it fails the
 * stream with CHECKSUM_MISMATCH at the end instead of letting wrong bytes pass as complete.
 */
export class Sha256Meter extends Transform {
  private hash: Hash | null = null;
  private threaded: ThreadedSha256 | null = null;
  /** Chunks seen before the stream proved large: hashed here at the end, or handed over. */
  private early: Buffer[] = [];
  private digestHex: string | undefined;
  bytes = 0;

  constructor(
    private readonly expect?: { sha256: string; key: string },
    private readonly offThreadMinBytes: number = OFF_THREAD_MIN_BYTES,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    // A pooled block is released by whoever consumes it downstream; hold it until hashed.
    const pooled = retainBlock(chunk);
    // Handed on right away: downstream stages never modify a chunk, so the hash can read it later.
    this.push(chunk);
    if (this.threaded) {
      this.feed(chunk, pooled, cb);
      return;
    }
    // Pooled blocks only come in bulk streams (a base backup): to the thread from the first one.
    if (!pooled) {
      this.early.push(chunk);
      if (this.bytes < this.offThreadMinBytes) {
        cb();
        return;
      }
    }
    this.threaded = new ThreadedSha256();
    const early = this.early;
    this.early = [];
    const next = (i: number): void => {
      if (i < early.length) this.feed(early[i]!, false, () => next(i + 1));
      else if (pooled) this.feed(chunk, true, cb);
      else cb();
    };
    next(0);
  }

  /** Give all of `chunk` to the helper thread, waiting for free slabs as needed. */
  private feed(chunk: Buffer, pooled: boolean, cb: TransformCallback): void {
    const t = this.threaded!;
    if (pooled) {
      const lend = (): void => {
        try {
          if (!t.updateInPlace(chunk, () => releaseBlock(chunk))) {
            t.whenLendable(lend);
            return;
          }
        } catch (err) {
          cb(err as Error);
          return;
        }
        cb();
      };
      lend();
      return;
    }
    let off = 0;
    const step = (): void => {
      try {
        off += t.update(off === 0 ? chunk : chunk.subarray(off));
      } catch (err) {
        cb(err as Error);
        return;
      }
      if (off === chunk.length) cb();
      else t.whenFree(step);
    };
    step();
  }

  override _flush(cb: TransformCallback): void {
    if (!this.threaded) {
      this.hash = createHash('sha256');
      for (const c of this.early) this.hash.update(c);
      this.early = [];
      this.finishWith(this.hash.digest('hex'), cb);
      return;
    }
    this.threaded.digest((err, hex) => {
      if (err) cb(err);
      else this.finishWith(hex!, cb);
    });
  }

  override _destroy(err: Error | null, cb: (error: Error | null) => void): void {
    this.threaded?.dispose();
    this.early = [];
    cb(err);
  }

  private finishWith(hex: string, cb: TransformCallback): void {
    this.digestHex = hex;
    if (this.expect && this.expect.sha256.toLowerCase() !== this.digestHex) {
      cb(
        new PitrdError('CHECKSUM_MISMATCH', `object ${this.expect.key}: sha256 of the decoded bytes is ${this.digestHex}, expected ${this.expect.sha256}`, {
          context: { key: this.expect.key, expected: this.expect.sha256, actual: this.digestHex, bytes: this.bytes },
        }),
      );
      return;
    }
    cb();
  }

  /** Hex digest; available once the stream has ended. */
  get sha256(): string {
    if (this.digestHex === undefined) throw new Error('sha256 read before the stream ended');
    return this.digestHex;
  }
}
