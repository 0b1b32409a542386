/**
 * Copies of incoming WAL, packed into reusable slabs, for XLogData that reaches the writer through
 * pg's own 'copyData' events (the fallback when pg did not take our socket; the normal path hands
 * over views into the receive slabs, see ../postgres/replication/recv-slabs.ts). pg reuses its receive buffer
 * after each message, so every such payload must be copied until it is written; one allocation per
 * message would leave the GC hundreds of MB of short-lived external buffers at full speed.
 * Chunks are written in arrival order, so slabs empty in order and go back to a small free list.
 */
export interface SlabRef {
  release(): void;
}

interface Slab {
  buf: Buffer;
  used: number;
  refs: number;
}

export class SlabPool {
  private current: Slab | null = null;
  private readonly free: Buffer[] = [];

  constructor(
    private readonly slabSize = 1024 * 1024,
    private readonly maxFree = 8,
  ) {}

  /** A copy of `src[start, end)` and the handle that gives its space back once written. */
  copy(src: Buffer, start: number, end: number): { data: Buffer; ref: SlabRef } {
    const n = end - start;
    if (n > this.slabSize) {
      const data = Buffer.allocUnsafe(n);
      src.copy(data, 0, start, end);
      return { data, ref: { release: () => undefined } };
    }
    let slab = this.current;
    if (slab === null || slab.buf.length - slab.used < n) {
      this.retire(slab);
      slab = { buf: this.free.pop() ?? Buffer.allocUnsafe(this.slabSize), used: 0, refs: 0 };
      this.current = slab;
    }
    const data = slab.buf.subarray(slab.used, slab.used + n);
    src.copy(data, 0, start, end);
    slab.used += n;
    slab.refs++;
    const s = slab;
    let released = false;
    return {
      data,
      ref: {
        release: () => {
          if (released) return;
          released = true;
          s.refs--;
          if (s.refs === 0 && s !== this.current) this.recycle(s);
        },
      },
    };
  }

  private retire(slab: Slab | null): void {
    if (slab && slab.refs === 0) this.recycle(slab);
    // A slab with live chunks is recycled by the last release().
  }

  private recycle(slab: Slab): void {
    if (this.free.length < this.maxFree) this.free.push(slab.buf);
  }
}
