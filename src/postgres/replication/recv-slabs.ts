/**
 * Receive memory for the replication socket: the kernel copies socket bytes straight into these
 * slabs (net.Socket `onread`), CopyData payloads are handed on as views into them, and the
 * segment writer writes those views to the spool. One copy (kernel → slab) instead of three
 * (kernel → fresh 64 KB buffer → pg's merge buffer → a copy for the writer), and no per-read
 * allocation for the GC to chase.
 *
 * A slab is reused only when nothing refers to its bytes any more: the reader holds it while it
 * reads into it, the writer holds it per queued chunk until that chunk is written.
 */
export interface SlabHold {
  retain(): void;
  release(): void;
}

export class RecvSlab implements SlabHold {
  private refs = 1;

  constructor(
    readonly buf: Buffer,
    private readonly pool: RecvSlabPool,
  ) {}

  retain(): void {
    this.refs++;
  }

  release(): void {
    if (--this.refs === 0) this.pool.recycle(this);
  }

  /** True when only the reader holds it (nothing queued for writing refers to it). */
  get exclusive(): boolean {
    return this.refs === 1;
  }
}

export class RecvSlabPool {
  private readonly free: Buffer[] = [];

  /**
   * `maxFree`: enough to hold every slab a full writer queue refers to (the session pauses the
   * socket at 8 MiB unwritten, plus the slab being read into): while streaming, slabs then go
   * round instead of back to the allocator, since fresh memory costs a page fault per 4 KiB
   * (on a VM also the host's) on first touch.
   */
  constructor(
    readonly slabSize = 2 * 1024 * 1024,
    private readonly maxFree = 8,
  ) {}

  /** A slab of at least `min` bytes, held once (by the caller). */
  acquire(min = 0): RecvSlab {
    if (min <= this.slabSize) {
      const buf = this.free.pop() ?? Buffer.allocUnsafeSlow(this.slabSize);
      return new RecvSlab(buf, this);
    }
    // An oversized frame (never WAL: walsender messages are at most 128 KB): its own buffer.
    return new RecvSlab(Buffer.allocUnsafeSlow(min), this);
  }

  recycle(slab: RecvSlab): void {
    if (slab.buf.length === this.slabSize && this.free.length < this.maxFree) this.free.push(slab.buf);
  }
}
