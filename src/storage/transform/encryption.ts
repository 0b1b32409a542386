/**
 * Streaming, authenticated AES-256-GCM in a chunked frame format (version 1):
 *
 *   header (40 bytes)
 *     0  magic "PITRDGCM" (8)
 *     8  format version = 1 (1)
 *     9  flags = 0, reserved (3)
 *    12  plaintext chunk size, u32 BE (4)
 *    16  key fingerprint: first 8 bytes of keyFingerprint(key) (8)
 *    24  random salt (16)
 *   frames, each:
 *     u32 BE: bit 31 = final frame, bits 0..30 = plaintext length (<= chunk size)
 *     ciphertext (that length), GCM tag (16)
 *
 * Each object gets its own key, HKDF-SHA256(repository key, salt, "pitrd object v1"), so the
 * nonce can be a plain counter: 7 zero bytes, the frame index (u32 BE), the final flag (1 byte).
 * The whole header and the frame's length word are the GCM additional data. So: a reordered,
 * altered or spliced frame fails authentication (DECRYPT_FAILED); a stream that ends before a
 * frame flagged final is TRUNCATED_OBJECT; a different key is caught from the fingerprint
 * before any decryption (REPO_KEY_MISMATCH). Empty input is one empty final frame.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { PitrdError } from '../../errors.js';

export const ENC_MAGIC = Buffer.from('PITRDGCM', 'ascii');
export const ENC_VERSION = 1;
export const ENC_HEADER_LEN = 40;
export const ENC_TAG_LEN = 16;
export const ENC_DEFAULT_CHUNK = 64 * 1024;
const FINAL_BIT = 0x8000_0000;
const MAX_CHUNK = 16 * 1024 * 1024;

/** Stable public identifier of a repository key (sha256-HMAC, hex); safe to store and log. */
export function keyFingerprint(key: Buffer): string {
  checkKey(key);
  return createHmac('sha256', key).update('pitrd repository key fingerprint v1').digest('hex');
}

function checkKey(key: Buffer): void {
  if (!Buffer.isBuffer(key) || key.length !== 32) {
    throw new PitrdError('CONFIG_INVALID', `the repository key must be 32 bytes for AES-256-GCM, got ${Buffer.isBuffer(key) ? key.length : typeof key}`, {
      context: { key: 'repository.key' },
    });
  }
}

function objectKey(key: Buffer, salt: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', key, salt, 'pitrd object v1', 32));
}

function nonce(index: number, final: boolean): Buffer {
  const n = Buffer.alloc(12);
  n.writeUInt32BE(index, 7);
  n[11] = final ? 1 : 0;
  return n;
}

/** True when the bytes start like an encrypted pitrd object. */
export function looksEncrypted(head: Buffer): boolean {
  return head.length >= ENC_MAGIC.length && head.subarray(0, ENC_MAGIC.length).equals(ENC_MAGIC);
}

export class EncryptStream extends Transform {
  private readonly header: Buffer;
  private readonly subKey: Buffer;
  private pending: Buffer[] = [];
  private pendingLen = 0;
  private index = 0;
  private headerSent = false;

  constructor(key: Buffer, private readonly chunkSize: number = ENC_DEFAULT_CHUNK) {
    super();
    checkKey(key);
    if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > MAX_CHUNK) throw new RangeError(`bad chunk size ${chunkSize}`);
    const salt = randomBytes(16);
    this.subKey = objectKey(key, salt);
    this.header = Buffer.alloc(ENC_HEADER_LEN);
    ENC_MAGIC.copy(this.header, 0);
    this.header[8] = ENC_VERSION;
    this.header.writeUInt32BE(chunkSize, 12);
    Buffer.from(keyFingerprint(key), 'hex').copy(this.header, 16, 0, 8);
    salt.copy(this.header, 24);
  }

  private frame(plain: Buffer, final: boolean): Buffer {
    if (this.index > 0xffff_ffff) throw new PitrdError('VALIDATION_ERROR', 'object too large for one encrypted stream (2^32 frames)');
    const len = Buffer.alloc(4);
    len.writeUInt32BE(((final ? FINAL_BIT : 0) | plain.length) >>> 0);
    const c = createCipheriv('aes-256-gcm', this.subKey, nonce(this.index, final));
    c.setAAD(Buffer.concat([this.header, len]));
    const body = Buffer.concat([len, c.update(plain), c.final(), c.getAuthTag()]);
    this.index++;
    return body;
  }

  private sendHeader(): void {
    if (!this.headerSent) {
      this.headerSent = true;
      this.push(this.header);
    }
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.sendHeader();
      this.pending.push(chunk);
      this.pendingLen += chunk.length;
      // Keep the last full chunk back until more data (or the end) tells us if it is final.
      while (this.pendingLen > this.chunkSize) {
        const all = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending);
        this.push(this.frame(all.subarray(0, this.chunkSize), false));
        const rest = all.subarray(this.chunkSize);
        this.pending = [rest];
        this.pendingLen = rest.length;
      }
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }

  override _flush(cb: TransformCallback): void {
    try {
      this.sendHeader();
      this.push(this.frame(Buffer.concat(this.pending), true));
      this.pending = [];
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }
}

export class DecryptStream extends Transform {
  private buf: Buffer = Buffer.alloc(0);
  private header: Buffer | undefined;
  private subKey: Buffer | undefined;
  private chunkSize = 0;
  private index = 0;
  private sawFinal = false;

  constructor(private readonly key: Buffer, private readonly objectName: string) {
    super();
    checkKey(key);
  }

  private err(code: 'DECRYPT_FAILED' | 'TRUNCATED_OBJECT' | 'REPO_KEY_MISMATCH' | 'REPO_FORMAT_UNSUPPORTED', why: string): PitrdError {
    return new PitrdError(code, `object ${this.objectName}: ${why}`, { context: { key: this.objectName, frame: this.index } });
  }

  private readHeader(): void {
    const h = this.buf.subarray(0, ENC_HEADER_LEN);
    if (!looksEncrypted(h)) throw this.err('DECRYPT_FAILED', 'not an encrypted pitrd object (bad magic) or its header was altered');
    if (h[8] !== ENC_VERSION) throw this.err('REPO_FORMAT_UNSUPPORTED', `encryption format version ${h[8]} is not supported (expected ${ENC_VERSION})`);
    const fp = Buffer.from(keyFingerprint(this.key), 'hex').subarray(0, 8);
    if (!fp.equals(h.subarray(16, 24))) {
      throw this.err('REPO_KEY_MISMATCH', `encrypted with a different repository key (fingerprint ${h.subarray(16, 24).toString('hex')}, ours ${fp.toString('hex')})`);
    }
    this.chunkSize = h.readUInt32BE(12);
    if (this.chunkSize < 1 || this.chunkSize > MAX_CHUNK) throw this.err('DECRYPT_FAILED', `header declares an impossible chunk size ${this.chunkSize}`);
    this.header = Buffer.from(h);
    this.subKey = objectKey(this.key, h.subarray(24, 40));
    this.buf = this.buf.subarray(ENC_HEADER_LEN);
  }

  /** Decrypt every complete frame in the buffer. */
  private drain(): void {
    if (!this.header) {
      if (this.buf.length < ENC_HEADER_LEN) return;
      this.readHeader();
    }
    while (this.buf.length >= 4) {
      if (this.sawFinal) throw this.err('DECRYPT_FAILED', 'bytes follow the final frame (appended or altered data)');
      const word = this.buf.readUInt32BE(0);
      const final = (word & FINAL_BIT) !== 0;
      const len = word & ~FINAL_BIT;
      if (len > this.chunkSize) throw this.err('DECRYPT_FAILED', `frame ${this.index} declares ${len} bytes, more than the chunk size ${this.chunkSize}`);
      if (!final && len !== this.chunkSize) throw this.err('DECRYPT_FAILED', `non-final frame ${this.index} is short (${len} bytes)`);
      const total = 4 + len + ENC_TAG_LEN;
      if (this.buf.length < total) return;
      const d = createDecipheriv('aes-256-gcm', this.subKey as Buffer, nonce(this.index, final));
      d.setAAD(Buffer.concat([this.header as Buffer, this.buf.subarray(0, 4)]));
      d.setAuthTag(this.buf.subarray(4 + len, total));
      let plain: Buffer;
      try {
        plain = Buffer.concat([d.update(this.buf.subarray(4, 4 + len)), d.final()]);
      } catch {
        throw this.err('DECRYPT_FAILED', `frame ${this.index} failed authentication (tampered or corrupted)`);
      }
      this.buf = this.buf.subarray(total);
      this.index++;
      if (final) this.sawFinal = true;
      if (plain.length > 0) this.push(plain);
    }
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
      this.drain();
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }

  override _flush(cb: TransformCallback): void {
    try {
      this.drain();
      if (this.sawFinal && this.buf.length > 0) throw this.err('DECRYPT_FAILED', 'bytes follow the final frame (appended or altered data)');
      if (!this.sawFinal) {
        throw this.err('TRUNCATED_OBJECT', `stream ended after ${this.index} frame(s) without the final frame (truncated)`);
      }
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }
}
