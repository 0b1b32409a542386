/**
 * The one reader of a backend's byte stream on a replication connection (the receiver's
 * START_REPLICATION and base backups' BASE_BACKUP): it frames the messages (1 type byte, a 4-byte
 * length that counts itself, the body) ahead of pg's parser, so that CopyData payloads reach us as
 * views into the memory the socket read into (./recv-slabs.ts). pg's parser would copy a 128 KB
 * XLogData message two or three times and allocate a fresh buffer for most of them, the main CPU
 * and GC cost of the receive path in profiles; a base backup moves gigabytes the same way.
 *
 * The socket reads into `nextBuffer()`; `onRead(n)` then parses what arrived. Frames are kept
 * contiguous: when a slab runs out, the unfinished frame at its end is carried to the start of
 * the next slab, so every frame is parsed (and every payload handed on) from one piece of memory.
 *
 * Everything up to and including CopyBothResponse ('W', START_REPLICATION) or CopyOutResponse
 * ('H', BASE_BACKUP) goes to pg (as copies, in whole frames: pg keeps nothing of them). After it,
 * CopyData ('d') payloads go to `onCopyData` with the slab holding them; whoever keeps a payload
 * beyond the callback must `retain()` the slab and `release()` it when done. The first frame of
 * any other type (CopyDone, ErrorResponse, …) ends copy mode: it and all that follows go to pg
 * again.
 *
 * A length word beyond `maxMessage` (or below 4) is refused with POSTGRES_PROTOCOL_VIOLATION as
 * soon as the 5-byte header is in, before any memory is set aside for the body: a hostile or
 * corrupt server cannot make pitrd allocate what it claims. Pure (no I/O).
 */
import { PitrdError } from '../../errors.js';
import { RecvSlabPool, type RecvSlab, type SlabHold } from './recv-slabs.js';

const TYPE_COPY_DATA = 0x64; // 'd'
const TYPE_COPY_BOTH = 0x57; // 'W'
const TYPE_COPY_OUT = 0x48; // 'H'
/** Never offer the socket less room than this: small reads cost a syscall each. */
const MIN_READ = 256 * 1024;
/**
 * Far above anything a walsender sends on these connections (XLogData ≤ 128 KB, BASE_BACKUP's
 * CopyData 32 kB, a timeline history file's DataRow a few kB).
 */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export interface FrameReaderOptions {
  pool?: RecvSlabPool;
  minRead?: number;
  /** Largest length word accepted (it counts itself, not the type byte). */
  maxMessage?: number;
}

export class FrameReader {
  private copying = false;
  private failed = false;
  private slab: RecvSlab;
  /** End of the bytes read into the slab. */
  private readEnd = 0;
  /** Start of the first frame not yet parsed (complete or not). */
  private parsePos = 0;
  private readonly pool: RecvSlabPool;
  private readonly minRead: number;
  private readonly maxMessage: number;

  constructor(
    private readonly forward: (frames: Buffer) => void,
    private readonly onCopyData: (payload: Buffer, slab: SlabHold) => void,
    private readonly onProtocolError: (err: PitrdError) => void,
    opts: FrameReaderOptions = {},
  ) {
    this.pool = opts.pool ?? new RecvSlabPool();
    this.minRead = opts.minRead ?? MIN_READ;
    this.maxMessage = opts.maxMessage ?? MAX_MESSAGE_BYTES;
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
    // Move on to a fresh slab, carrying the unfinished frame so it stays contiguous. Its length
    // word, when in, was checked against maxMessage by onRead.
    const carry = this.readEnd - this.parsePos;
    let need = carry + this.minRead;
    if (carry >= 5) need = Math.max(need, 1 + buf.readUInt32BE(this.parsePos + 1) + this.minRead);
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
    if (this.failed) {
      this.parsePos = this.readEnd;
      return;
    }
    const buf = this.slab.buf;
    let pos = this.parsePos;
    // Start of a run of consecutive frames owed to pg (forwarded as one copy); -1 when none.
    let fwd = -1;
    while (this.readEnd - pos >= 5) {
      const type = buf[pos]!;
      const len = buf.readUInt32BE(pos + 1);
      if (len < 4 || len > this.maxMessage) {
        if (fwd >= 0) this.forward(Buffer.from(buf.subarray(fwd, pos)));
        this.failed = true;
        this.parsePos = this.readEnd;
        this.onProtocolError(
          new PitrdError('POSTGRES_PROTOCOL_VIOLATION', `the server sent a protocol message of type 0x${type.toString(16)} claiming ${len} bytes (allowed 4 to ${this.maxMessage}); the connection is closed`, {
            context: { type, length: len, max_length: this.maxMessage },
          }),
        );
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
        if (type === TYPE_COPY_BOTH || type === TYPE_COPY_OUT) {
          // pg must see the copy response before the first CopyData reaches onCopyData.
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
