/**
 * Frames the backend's byte stream ahead of pg's parser so CopyData payloads of a CopyBoth
 * stream reach us without pg's per-message buffer merging (which copies a 128 KB XLogData
 * message two or three times and allocates a fresh buffer for most of them: the main CPU and GC
 * cost of the receive path in profiles).
 *
 * Everything up to and including CopyBothResponse ('W') is forwarded to pg untouched. After it,
 * CopyData ('d') frames are delivered here: a view into the socket chunk when the frame lies in
 * one chunk, else assembled once in a reused buffer (so: valid only during the callback). The
 * first frame of any other type (CopyDone, ErrorResponse, …) ends copy mode and it and all that
 * follows goes to pg again, which therefore always sees whole frames at the mode switches. Pure.
 */
const TYPE_COPY_DATA = 0x64; // 'd'
const TYPE_COPY_BOTH = 0x57; // 'W'

export class CopyBothTap {
  private copying = false;
  private readonly hdr = Buffer.alloc(5);
  private hdrHave = 0;
  private inFrame = false;
  private type = 0;
  private bodyLeft = 0;
  private asm: Buffer = Buffer.alloc(0);
  private asmHave = 0;

  constructor(
    private readonly forward: (bytes: Buffer) => void,
    private readonly onCopyData: (payload: Buffer) => void,
  ) {}

  get inCopyMode(): boolean {
    return this.copying;
  }

  push(chunk: Buffer): void {
    let pos = 0;
    // Start (in this chunk) of the bytes owed to pg; -1 while in copy mode.
    let fwd = this.copying ? -1 : 0;
    while (pos < chunk.length) {
      if (!this.inFrame) {
        const n = Math.min(5 - this.hdrHave, chunk.length - pos);
        chunk.copy(this.hdr, this.hdrHave, pos, pos + n);
        this.hdrHave += n;
        pos += n;
        if (this.hdrHave < 5) break;
        this.hdrHave = 0;
        this.inFrame = true;
        this.type = this.hdr[0]!;
        this.bodyLeft = this.hdr.readInt32BE(1) - 4;
        if (this.copying && this.type !== TYPE_COPY_DATA) {
          this.copying = false;
          if (pos >= 5) fwd = pos - 5;
          else {
            // The header began in an earlier chunk: hand pg those bytes first.
            this.forward(Buffer.from(this.hdr));
            fwd = pos;
          }
        }
      }
      if (this.copying) {
        const avail = chunk.length - pos;
        if (this.asmHave === 0 && avail >= this.bodyLeft) {
          const body = chunk.subarray(pos, pos + this.bodyLeft);
          pos += this.bodyLeft;
          this.endFrame();
          this.onCopyData(body);
          continue;
        }
        if (this.asmHave === 0) {
          const total = this.bodyLeft;
          if (this.asm.length < total) this.asm = Buffer.allocUnsafe(Math.max(total, 256 * 1024));
        }
        const n = Math.min(avail, this.bodyLeft);
        chunk.copy(this.asm, this.asmHave, pos, pos + n);
        this.asmHave += n;
        this.bodyLeft -= n;
        pos += n;
        if (this.bodyLeft === 0) {
          const body = this.asm.subarray(0, this.asmHave);
          this.asmHave = 0;
          this.endFrame();
          this.onCopyData(body);
        }
      } else {
        const n = Math.min(this.bodyLeft, chunk.length - pos);
        pos += n;
        this.bodyLeft -= n;
        if (this.bodyLeft === 0) {
          this.endFrame();
          if (this.type === TYPE_COPY_BOTH) {
            this.forward(chunk.subarray(fwd, pos));
            fwd = -1;
            this.copying = true;
          }
        }
      }
    }
    if (fwd >= 0 && fwd < chunk.length) this.forward(fwd === 0 ? chunk : chunk.subarray(fwd));
  }

  private endFrame(): void {
    this.inFrame = false;
    this.bodyLeft = 0;
  }
}
