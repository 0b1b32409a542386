/**
 * Cuts the bytes of a PostgreSQL protocol stream (backend messages: 1 type byte, a 4-byte length
 * that counts itself, the body) so that every piece handed on holds whole messages only.
 *
 * Why: the base-backup socket reads into one reused buffer (no new buffer per read, which made V8
 * run a full GC every few dozen MB of a backup). pg's parser keeps a reference to the buffer it
 * was given when a message continues past its end, so a reused buffer may only be handed to it
 * in whole messages: then it parses everything and keeps nothing. Runs of whole messages go on
 * as views of the read buffer (no copy); only a message that straddles two reads is assembled
 * in a buffer of its own. Pure: no I/O.
 */
import { PitrdError } from '../errors.js';

const HEADER = 5;
/** Larger than any message a backend sends during BASE_BACKUP (CopyData is 32 kB): a corrupt length. */
const MAX_MESSAGE = 64 * 1024 * 1024;

export class WholeMessages {
  private readonly head = Buffer.alloc(HEADER);
  private headFill = 0;
  private pending: Buffer | null = null;
  private pendingFill = 0;
  /** Reused for messages that straddle two reads (one in eight at 256 kB reads of 32 kB messages). */
  private spare: Buffer = Buffer.alloc(0);

  /**
   * `emit` gets whole messages; it must be done with the bytes when it returns. With
   * `onCopyData`, CopyData messages ('d') go there instead, one at a time (type byte and length
   * word included), in stream order with the rest: pg then never parses the bulk of a backup,
   * it only would have handed each message on as a 'copyData' event.
   */
  constructor(
    private readonly emit: (messages: Buffer) => void,
    private readonly onCopyData?: (message: Buffer) => void,
  ) {}

  /** True when no message is half-received. */
  get idle(): boolean {
    return this.headFill === 0 && this.pending === null;
  }

  push(buf: Buffer): void {
    let off = 0;
    if (this.headFill > 0) {
      const n = Math.min(HEADER - this.headFill, buf.length);
      buf.copy(this.head, this.headFill, 0, n);
      this.headFill += n;
      off = n;
      if (this.headFill < HEADER) return;
      this.headFill = 0;
      this.pending = this.assembly(messageLength(this.head, 0));
      this.head.copy(this.pending, 0);
      this.pendingFill = HEADER;
    }
    if (this.pending) {
      const n = Math.min(this.pending.length - this.pendingFill, buf.length - off);
      buf.copy(this.pending, this.pendingFill, off, off + n);
      this.pendingFill += n;
      off += n;
      if (this.pendingFill < this.pending.length) return;
      const whole = this.pending;
      this.pending = null;
      this.deliver(whole, 0, whole.length);
    }
    let end = off;
    while (end + HEADER <= buf.length) {
      const total = messageLength(buf, end);
      if (end + total > buf.length) break;
      end += total;
    }
    if (end > off) this.deliver(buf, off, end);
    const rest = buf.length - end;
    if (rest === 0) return;
    if (rest < HEADER) {
      buf.copy(this.head, 0, end);
      this.headFill = rest;
      return;
    }
    this.pending = this.assembly(messageLength(buf, end));
    buf.copy(this.pending, 0, end);
    this.pendingFill = rest;
  }

  /**
   * Room for one message of `length` bytes. The same memory every time: whoever gets a message
   * is done with it when the callback returns (as with the read buffer), so a fresh buffer per
   * straddling message would only be garbage for the GC.
   */
  private assembly(length: number): Buffer {
    if (this.spare.length < length) this.spare = Buffer.allocUnsafe(Math.max(length, SPARE_MIN));
    return this.spare.subarray(0, length);
  }

  /** Hand on the whole messages buf[from, to): runs of pg's go to emit, CopyData to its hook. */
  private deliver(buf: Buffer, from: number, to: number): void {
    if (!this.onCopyData) {
      this.emit(buf.subarray(from, to));
      return;
    }
    let run = from;
    let at = from;
    while (at < to) {
      const total = 1 + buf.readUInt32BE(at + 1);
      if (buf[at] === COPY_DATA) {
        if (at > run) this.emit(buf.subarray(run, at));
        this.onCopyData(buf.subarray(at, at + total));
        run = at + total;
      }
      at += total;
    }
    if (to > run) this.emit(buf.subarray(run, to));
  }
}

const COPY_DATA = 0x64; // 'd'
/** A CopyData message of BASE_BACKUP is 32 kB: room for it, and for most others, from the start. */
const SPARE_MIN = 64 * 1024;

/** Type byte + the length word's value. */
function messageLength(b: Buffer, at: number): number {
  const len = b.readUInt32BE(at + 1);
  if (len < 4 || len > MAX_MESSAGE) {
    throw new PitrdError('REPLICATION_ERROR', `the server sent a protocol message of type "${String.fromCharCode(b[at]!)}" with an impossible length ${len}`, {
      context: { type: b[at], length: len },
    });
  }
  return 1 + len;
}
