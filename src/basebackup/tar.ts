/**
 * A minimal streaming tar reader: it watches the bytes of an archive go by (chunk boundaries
 * anywhere) and reports each member's name, type and size, and the contents of the few small
 * members we care about (backup_label, tablespace_map). It never holds more than one header
 * block plus the captured members in memory, so a 100 GB base.tar streams through it.
 *
 * Format: POSIX ustar (what the PostgreSQL server emits), with GNU long-name ('L') and pax ('x')
 * headers understood for names longer than the 100+155 ustar fields. Pure: no I/O.
 */
import { PitrdError } from '../errors.js';

export const TAR_BLOCK = 512;

export interface TarEntry {
  name: string;
  /** '0' regular file, '5' directory, '2' symlink, … (the ustar typeflag). */
  type: string;
  size: number;
  linkName: string;
}

export interface TarScannerOptions {
  /** Member names whose content is kept (up to maxCapture bytes each). */
  capture?: string[];
  maxCapture?: number;
}

type State = 'header' | 'body' | 'padding' | 'end';

export class TarScanner {
  readonly entries: TarEntry[] = [];
  readonly captured = new Map<string, Buffer>();
  /** True once the two zero blocks that end an archive were seen. */
  sawEndOfArchive = false;
  /** Total bytes seen. */
  bytes = 0;

  private state: State = 'header';
  private header = Buffer.alloc(TAR_BLOCK);
  private headerFill = 0;
  private remaining = 0;
  private current: TarEntry | null = null;
  private capturing: Buffer[] | null = null;
  private longName: string | null = null;
  private metaBody: Buffer[] | null = null;
  private metaKind: 'L' | 'x' | null = null;
  private zeroBlocks = 0;
  private readonly capture: Set<string>;
  private readonly maxCapture: number;

  constructor(opts: TarScannerOptions = {}) {
    this.capture = new Set(opts.capture ?? []);
    this.maxCapture = opts.maxCapture ?? 1024 * 1024;
  }

  push(chunk: Buffer): void {
    this.bytes += chunk.length;
    let off = 0;
    while (off < chunk.length) {
      if (this.state === 'end') return; // trailing zero padding after the end-of-archive marker
      if (this.state === 'header') {
        const n = Math.min(TAR_BLOCK - this.headerFill, chunk.length - off);
        chunk.copy(this.header, this.headerFill, off, off + n);
        this.headerFill += n;
        off += n;
        if (this.headerFill === TAR_BLOCK) {
          this.headerFill = 0;
          this.onHeader();
        }
        continue;
      }
      const n = Math.min(this.remaining, chunk.length - off);
      if (this.state === 'body') {
        const part = chunk.subarray(off, off + n);
        if (this.capturing) this.capturing.push(Buffer.from(part));
        if (this.metaBody) this.metaBody.push(Buffer.from(part));
      }
      this.remaining -= n;
      off += n;
      if (this.remaining === 0) this.endOfPart();
    }
  }

  /** Call when the stream ended: throws when it stopped inside a member (a truncated archive). */
  finish(): void {
    if (this.state === 'body' || this.state === 'padding' || this.headerFill !== 0) {
      throw new PitrdError('TRUNCATED_OBJECT', `tar archive ends inside member "${this.current?.name ?? '?'}" after ${this.bytes} bytes`, {
        context: { member: this.current?.name, bytes: this.bytes },
      });
    }
  }

  private onHeader(): void {
    if (this.header.every((b) => b === 0)) {
      this.zeroBlocks += 1;
      if (this.zeroBlocks >= 2) {
        this.sawEndOfArchive = true;
        this.state = 'end';
      }
      return;
    }
    this.zeroBlocks = 0;
    verifyChecksum(this.header, this.bytes);
    const type = String.fromCharCode(this.header[156] || 0x30);
    const size = parseOctal(this.header.subarray(124, 136));
    if (type === 'L' || type === 'x' || type === 'g') {
      this.metaKind = type === 'g' ? null : type;
      this.metaBody = type === 'g' ? null : [];
      this.current = { name: '(extended header)', type, size, linkName: '' };
      this.startBody(size);
      return;
    }
    let name = cString(this.header.subarray(0, 100));
    const magic = cString(this.header.subarray(257, 263));
    if (magic.startsWith('ustar')) {
      const prefix = cString(this.header.subarray(345, 500));
      if (prefix) name = `${prefix}/${name}`;
    }
    if (this.longName !== null) {
      name = this.longName;
      this.longName = null;
    }
    const entry: TarEntry = { name, type, size, linkName: cString(this.header.subarray(157, 257)) };
    this.entries.push(entry);
    this.current = entry;
    this.capturing = this.capture.has(name) && size <= this.maxCapture ? [] : null;
    this.startBody(size);
  }

  private startBody(size: number): void {
    this.remaining = size;
    this.state = 'body';
    if (size === 0) this.endOfPart();
  }

  private endOfPart(): void {
    if (this.state === 'body') {
      const entry = this.current!;
      if (this.capturing) {
        this.captured.set(entry.name, Buffer.concat(this.capturing));
        this.capturing = null;
      }
      if (this.metaBody) {
        const body = Buffer.concat(this.metaBody);
        this.longName = this.metaKind === 'L' ? cString(body) : paxPath(body) ?? this.longName;
        this.metaBody = null;
        this.metaKind = null;
      }
      const pad = (TAR_BLOCK - (entry.size % TAR_BLOCK)) % TAR_BLOCK;
      if (pad > 0) {
        this.state = 'padding';
        this.remaining = pad;
        return;
      }
    }
    this.state = 'header';
  }
}

/** The end-of-archive marker: two zero blocks. */
export function tarTerminator(): Buffer {
  return Buffer.alloc(2 * TAR_BLOCK);
}

function cString(b: Buffer): string {
  const z = b.indexOf(0);
  return b.subarray(0, z === -1 ? b.length : z).toString('utf8');
}

function parseOctal(field: Buffer): number {
  // Sizes over 8 GiB use the GNU base-256 form: high bit of the first byte set.
  if (field[0]! & 0x80) {
    let v = 0;
    for (let i = 1; i < field.length; i++) v = v * 256 + field[i]!;
    return v;
  }
  const text = cString(field).trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new PitrdError('BACKUP_FAILED', `tar header has a non-octal number field "${text}"`, { context: { field: text } });
  return Number.parseInt(text, 8);
}

function verifyChecksum(h: Buffer, at: number): void {
  let sum = 0;
  for (let i = 0; i < TAR_BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
  const stored = parseOctal(h.subarray(148, 156));
  if (stored !== sum) {
    throw new PitrdError('CHECKSUM_MISMATCH', `tar header checksum mismatch near byte ${at} (stored ${stored}, computed ${sum}): not a tar stream or corrupted`, {
      context: { offset: at },
    });
  }
}

/** The `path` record of a pax extended header ("<len> path=<value>\n" records). */
function paxPath(body: Buffer): string | null {
  let off = 0;
  while (off < body.length) {
    const sp = body.indexOf(0x20, off);
    if (sp === -1) break;
    const len = Number(body.subarray(off, sp).toString('ascii'));
    if (!Number.isInteger(len) || len <= 0) break;
    const rec = body.subarray(sp + 1, off + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq !== -1 && rec.slice(0, eq) === 'path') return rec.slice(eq + 1);
    off += len;
  }
  return null;
}
