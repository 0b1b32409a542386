/**
 * Frames the backend's byte stream ourselves, ahead of pg's parser, so CopyData payloads of a
 * CopyBoth stream reach us as views into the memory the socket read into (see recv-slabs.ts):
 * pg's parser would copy a 128 KB XLogData message two or three times and allocate a fresh
 * buffer for most of them, the main CPU and GC cost of the receive path in profiles.
 *
 * The socket reads into `nextBuffer()`; `onRead(n)` then parses what arrived. Frames are kept
 * contiguous: when a slab runs out, the unfinished frame at its end is carried to the start of
 * the next slab, so every frame is parsed (and every payload handed on) from one piece of memory.
 *
 * Everything up to and including CopyBothResponse ('W') goes to pg (as copies, in whole frames).
 * After it, CopyData ('d') payloads go to `onCopyData` with the slab holding them; whoever keeps
 * a payload beyond the callback must `retain()` the slab and `release()` it when done. The first
 * frame of any other type (CopyDone, ErrorResponse, …) ends copy mode: it and all that follows go
 * to pg again. Pure (no I/O).
 */
import { RecvSlabPool, type RecvSlab, type SlabHold } from './recv-slabs.js';

const TYPE_COPY_DATA = 0x64; // 'd'
const TYPE_COPY_BOTH = 0x57; // 'W'
/** Never offer the socket less room than this: small reads cost a syscall each. */
const MIN_READ = 256 * 1024;

export interface CopyBothReaderOptions {
  pool?: RecvSlabPool;
  minRead?: number;
}

export class CopyBothReader {
  private copying = false;
  private slab: RecvSlab;
  /** End of the bytes read into the slab. */
  private readEnd = 0;
  /** Start of the first frame not yet parsed (complete or not). */
  private parsePos = 0;
  private readonly pool: RecvSlabPool;
  private readonly minRead: number;

  constructor(
    private readonly forward: (frames: Buffer) => void,
    private readonly onCopyData: (payload: Buffer, slab: SlabHold) => void,
    private readonly onProtocolError: (err: Error) => void,
    opts: CopyBothReaderOptions = {},
  ) {
    this.pool = opts.pool ?? new RecvSlabPool();
    this.minRead = opts.minRead ?? MIN_READ;
    this.slab = this.pool.acquire();
  }

  get inCopyMode(): boolean {
    return this.copying;
  }

  /** Where the next socket read goes. */
  nextBuffer(): Buffer {
    const buf = this.slab.buf;
    if (this.parsePos === this.readEnd && this.slab.exclusive) {
      // Everything parsed and nothing queued refers to this slab: start over at its beginning.
      this.parsePos = this.readEnd = 0;
    }
    if (buf.length - this.readEnd >= this.minRead) return buf.subarray(this.readEnd);
    // Move on to a fresh slab, carrying the unfinished frame so it stays contiguous.
    const carry = this.readEnd - this.parsePos;
    let need = carry + this.minRead;
    if (carry >= 5) need = Math.max(need, 1 + buf.readInt32BE(this.parsePos + 1) + this.minRead);
    const next = this.pool.acquire(need);
    buf.copy(next.buf, 0, this.parsePos, this.readEnd);
    this.slab.release();
    this.slab = next;
    this.parsePos = 0;
    this.readEnd = carry;
    return next.buf.subarray(carry);
  }

  /** `n` bytes were read into the buffer last returned by nextBuffer(). */
  onRead(n: number): void {
    this.readEnd += n;
    const buf = this.slab.buf;
    let pos = this.parsePos;
    // Start of a run of consecutive frames owed to pg (forwarded as one copy); -1 when none.
    let fwd = -1;
    while (this.readEnd - pos >= 5) {
      const type = buf[pos]!;
      const len = buf.readInt32BE(pos + 1);
      if (len < 4) {
        this.parsePos = this.readEnd;
        this.onProtocolError(new Error(`malformed message from the server: type 0x${type.toString(16)} with length ${len}`));
        return;
      }
      const end = pos + 1 + len;
      if (end > this.readEnd) break;
      if (this.copying && type === TYPE_COPY_DATA) {
        this.parsePos = end;
        this.onCopyData(buf.subarray(pos + 5, end), this.slab);
      } else {
        this.copying = false;
        if (fwd < 0) fwd = pos;
        if (type === TYPE_COPY_BOTH) {
          // pg must see the CopyBothResponse before the first CopyData reaches onCopyData.
          this.forward(Buffer.from(buf.subarray(fwd, end)));
          fwd = -1;
          this.copying = true;
        }
      }
      pos = end;
    }
    this.parsePos = pos;
    if (fwd >= 0) this.forward(Buffer.from(buf.subarray(fwd, pos)));
  }
}
