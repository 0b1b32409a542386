import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { PitrdError } from '../../errors.js';

/**
 * Passes bytes through unchanged while counting them and hashing them with sha256. On the way
 * in it measures the original bytes; on the way out, given the expected digest, it fails the
 * stream with CHECKSUM_MISMATCH at the end instead of letting wrong bytes pass as complete.
 */
export class Sha256Meter extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private digestHex: string | undefined;
  bytes = 0;

  constructor(private readonly expect?: { sha256: string; key: string }) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    this.hash.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    this.digestHex = this.hash.digest('hex');
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
