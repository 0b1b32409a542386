/**
 * The sha256 of each segment the writer writes, computed as the writer writes it: the bytes are
 * in memory right then, so the uploader no longer reads the 16 MiB file back to hash it (the
 * repository needs the sum for its marker and its same-content / conflict check).
 *
 * Hashed on the writer's thread, just before the bytes are written. (Measured against a helper
 * thread fed through shared slabs: that took more CPU in total (the copies and messages), and on
 * a busy machine the helper fell behind, so segments reached the repository later.)
 *
 * A sum is only given for a segment whose every byte was hashed in order from its start; else
 * null, and the uploader hashes the spooled file instead.
 */
import { createHash, type Hash } from 'node:crypto';

export class SegmentHash {
  private hash: Hash = createHash('sha256');
  /** The current segment's bytes were hashed in order, from offset 0. */
  private inOrder = true;
  private hashed = 0;

  /** Hash `bufs`, which continue the current segment at `offset`. */
  update(offset: number, bufs: readonly Buffer[]): void {
    if (!this.inOrder) return;
    if (offset !== this.hashed) {
      // Not a continuation (never expected): this segment gets no sum.
      this.inOrder = false;
      return;
    }
    for (const b of bufs) {
      this.hash.update(b);
      this.hashed += b.length;
    }
  }

  /** End the current segment: its sha256 when exactly `size` bytes were hashed in order, else null. */
  finish(size: number): string | null {
    const hex = this.inOrder && this.hashed === size ? this.hash.digest('hex') : null;
    this.reset();
    return hex;
  }

  /** Start a new segment (what was hashed so far is dropped). */
  reset(): void {
    if (this.hashed > 0 || !this.inOrder) this.hash = createHash('sha256');
    this.inOrder = true;
    this.hashed = 0;
  }
}
