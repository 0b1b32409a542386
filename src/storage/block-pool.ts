/**
 * Reused 1 MiB blocks for the bulk bytes of a base backup, in shared memory.
 *
 * Why: a fresh 1 MiB buffer per block costs more than the bytes it carries. Its pages are new
 * (the copy into it runs at a fifth of the speed of a copy into memory used before: page faults
 * and zeroing), and the external memory it churns makes V8 run a major GC every few dozen MB.
 * Blocks that come back are warm and allocate nothing. Shared memory lets the sha256 thread
 * hash a block where it is instead of copying it into its own slabs.
 *
 * Ownership, which is what makes reuse safe:
 *  - the producer takes a block, fills it, and hands on a view of it (`handOut`): that view
 *    object carries one reference, the stream's;
 *  - a stage that keeps the view after passing it on (the sha256 meter, while the thread hashes)
 *    takes a reference of its own (`retainBlock`) and drops it when done (`releaseBlock`);
 *  - the stage that consumes the stream's bytes for good (the fs driver once they are written,
 *    the gzip compressor once a member is compressed) releases the stream's reference.
 * The block goes back to its pool when the last reference is released. Only the exact view
 * object handed out counts: a slice or a concatenation of it is an ordinary buffer, and a view
 * nobody releases (a stream destroyed midway, a consumer that knows nothing of pools: S3,
 * encryption) is simply garbage-collected. Forgetting a release costs a new block; releasing
 * a block still in use would corrupt a backup, so only a stage that is the last to read a
 * view releases it.
 *
 * Memory is bounded: a pool makes at most `maxBlocks` shared blocks; past that (its blocks are
 * not coming back) it hands out plain buffers, which the GC reclaims as before. The blocks are
 * carved from one page-aligned arena (aligned-memory.ts), made when the first block is taken;
 * its pages cost memory only once a block is used, and each block starts on a page boundary,
 * so the fs driver can write it with O_DIRECT as it is (fs-direct.ts).
 */
import { alignedShared, PAGE } from './aligned-memory.js';

export const BLOCK_BYTES = 1024 * 1024;
/** Enough for every stage of a backup's stream to hold what its backpressure lets it. */
export const POOL_MAX_BLOCKS = 48;

interface Lent {
  block: Buffer;
  pool: BlockPool;
  refs: number;
}

/** Views handed out and not yet released, by view object. */
const lent = new WeakMap<Buffer, Lent>();

export class BlockPool {
  private readonly free: Buffer[] = [];
  private made = 0;
  private arena: Buffer | null = null;
  /** Block size rounded up to whole pages: every block in the arena starts page-aligned. */
  private readonly stride: number;
  /** Blocks that came back to be reused (observability and tests). */
  reused = 0;

  constructor(
    readonly blockBytes: number = BLOCK_BYTES,
    readonly maxBlocks: number = POOL_MAX_BLOCKS,
  ) {
    this.stride = Math.ceil(blockBytes / PAGE) * PAGE;
  }

  /** Shared blocks this pool made. */
  get blocksMade(): number {
    return this.made;
  }

  /** A block to fill: a returned one, a new shared one under the cap, else a plain buffer. */
  take(): Buffer {
    const b = this.free.pop();
    if (b) {
      this.reused++;
      return b;
    }
    if (this.made < this.maxBlocks) {
      this.arena ??= alignedShared(this.maxBlocks * this.stride);
      const at = this.made++ * this.stride;
      return this.arena.subarray(at, at + this.blockBytes);
    }
    return Buffer.allocUnsafe(this.blockBytes);
  }

  /**
   * Hand on bytes [0, length) of a block from take(); the block must not be written again.
   * The view returned carries the stream's reference.
   */
  handOut(block: Buffer, length: number): Buffer {
    const view = length === block.length ? block : block.subarray(0, length);
    if (block.buffer instanceof SharedArrayBuffer && block.length === this.blockBytes) lent.set(view, { block, pool: this, refs: 1 });
    return view;
  }

  /** A block whose last reference was released (called by releaseBlock only). */
  restore(block: Buffer): void {
    if (this.free.length >= this.maxBlocks) return;
    this.free.push(block);
  }
}

/** True when `chunk` is a pooled block's view still lent out. */
export function isPooledBlock(chunk: Buffer): boolean {
  return lent.has(chunk);
}

/** Take a reference on a pooled view (false, and nothing to release, for any other buffer). */
export function retainBlock(chunk: Buffer): boolean {
  const l = lent.get(chunk);
  if (!l) return false;
  l.refs++;
  return true;
}

/** Drop a reference on a pooled view; the last one returns its block. No-op for other buffers. */
export function releaseBlock(chunk: Buffer): void {
  const l = lent.get(chunk);
  if (!l) return;
  if (--l.refs > 0) return;
  lent.delete(chunk);
  l.pool.restore(l.block);
}

/**
 * Copy src[srcStart, srcEnd) to dst at dstStart, at memcpy speed also to or from shared memory.
 *
 * Why not Buffer#copy: V8 copies to or from a SharedArrayBuffer with its "relaxed" memmove (no
 * torn-word guarantees broken for other threads), which falls back to one byte at a time when
 * source and target are not equally aligned, as CopyData payloads (6 bytes into each message)
 * never are: about 0.3 ms per MiB, ten times a memcpy. Buffer#fill with a buffer value as long
 * as the range is a single memcpy in Node's C++. Nothing reads the target range while it is
 * filled (a block is only written before it is handed out).
 */
export function copyInto(dst: Buffer, dstStart: number, src: Buffer, srcStart: number, srcEnd: number): void {
  const n = srcEnd - srcStart;
  if (n <= 0) return;
  if (dst.buffer instanceof SharedArrayBuffer || src.buffer instanceof SharedArrayBuffer) dst.fill(src.subarray(srcStart, srcEnd), dstStart, dstStart + n);
  else src.copy(dst, dstStart, srcStart, srcEnd);
}
