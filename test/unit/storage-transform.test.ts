import { randomBytes, createHash } from 'node:crypto';
import { mkdtempSync, rmSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { PitrdError } from '../../src/errors.js';
import {
  DecryptStream,
  EncryptStream,
  FsObjectStore,
  createCodecStore,
  keyFingerprint,
  streamToBuffer,
  type CodecOptions,
} from '../../src/storage/index.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempStore(): { store: FsObjectStore; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'pitrd-st-unit-'));
  dirs.push(dir);
  return { store: new FsObjectStore({ path: dir, fsync: false }), dir };
}

async function encrypt(key: Buffer, data: Buffer, chunk?: number): Promise<Buffer> {
  return streamToBuffer(Readable.from(data.length ? [data] : []).pipe(new EncryptStream(key, chunk)));
}

async function decrypt(key: Buffer, data: Buffer): Promise<Buffer> {
  const src = Readable.from(data.length ? [data] : []);
  const d = new DecryptStream(key, 'test/object');
  const out = streamToBuffer(d);
  src.pipe(d);
  return out;
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(PitrdError);
    return (err as PitrdError).code;
  }
  return 'no error';
}

/** Compressible yet not trivial: text-like bytes with some randomness. */
function sample(n: number): Buffer {
  const b = Buffer.alloc(n);
  const r = randomBytes(Math.ceil(n / 8));
  for (let i = 0; i < n; i++) b[i] = 97 + ((r[i >> 3] as number) % 8);
  return b;
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const KEY = randomBytes(32);

describe('storage transforms: round trips', () => {
  const compressions: CodecOptions['compression'][] = ['none', 'gzip'];
  const inputs: [string, Buffer][] = [
    ['empty', Buffer.alloc(0)],
    ['small', Buffer.from('hello, WAL')],
    ['multi-chunk (3.5 frames of 64 KiB)', sample(64 * 1024 * 3 + 32 * 1024)],
    ['exact frame multiple', sample(64 * 1024 * 2)],
  ];
  for (const compression of compressions) {
    for (const encrypted of [false, true]) {
      for (const [name, data] of inputs) {
        it(`${compression} × ${encrypted ? 'encrypted' : 'plain'} × ${name}: buffer and stream round trip`, async () => {
          const { store } = tempStore();
          const cs = createCodecStore(store, { compression, ...(encrypted ? { key: KEY } : {}) });
          const r = await cs.put('obj/a', data);
          expect(r.originalSize).toBe(data.length);
          expect(r.sha256).toBe(sha(data));
          expect(r.size).toBe((await store.head('obj/a'))?.size);
          expect(Buffer.compare(await cs.getBuffer('obj/a', { sha256: r.sha256 }), data)).toBe(0);

          // Streamed put in odd-sized pieces.
          const pieces: Buffer[] = [];
          for (let i = 0; i < data.length; i += 10_007) pieces.push(data.subarray(i, i + 10_007));
          const r2 = await cs.put('obj/b', Readable.from(pieces));
          expect(r2.sha256).toBe(sha(data));
          expect(r2.originalSize).toBe(data.length);
          const back = await streamToBuffer(await cs.get('obj/b', { sha256: r2.sha256 }));
          expect(Buffer.compare(back, data)).toBe(0);

          const stored = await store.getBuffer('obj/a');
          if (encrypted) {
            expect(stored.subarray(0, 8).toString()).toBe('PITRDGCM');
            if (data.length > 8) expect(stored.includes(data.subarray(0, 8))).toBe(false);
          } else if (compression === 'none') {
            expect(Buffer.compare(stored, data)).toBe(0);
          } else {
            expect(stored[0]).toBe(0x1f); // gzip magic: readable by standard tools
          }
        });
      }
    }
  }

  it('gzip actually compresses', async () => {
    const { store } = tempStore();
    const cs = createCodecStore(store, { compression: 'gzip' });
    const data = sample(1 << 20);
    const r = await cs.put('c', data);
    expect(r.size).toBeLessThan(data.length / 2);
  });
});

describe('storage transforms: failures have distinct codes', () => {
  it('tampered ciphertext → DECRYPT_FAILED', async () => {
    const data = sample(200_000);
    const enc = await encrypt(KEY, data);
    for (const pos of [45, 40 + 4 + 70_000, enc.length - 3]) {
      const bad = Buffer.from(enc);
      bad[pos] = (bad[pos] as number) ^ 0x01;
      expect(await codeOf(decrypt(KEY, bad))).toBe('DECRYPT_FAILED');
    }
    // A header bit (the salt) is authenticated too.
    const badHeader = Buffer.from(enc);
    badHeader[30] = (badHeader[30] as number) ^ 0x80;
    expect(await codeOf(decrypt(KEY, badHeader))).toBe('DECRYPT_FAILED');
  });

  it('truncated ciphertext → TRUNCATED_OBJECT (mid-frame and at a frame boundary)', async () => {
    const data = sample(64 * 1024 * 3 + 100);
    const enc = await encrypt(KEY, data);
    expect(await codeOf(decrypt(KEY, enc.subarray(0, enc.length - 1)))).toBe('TRUNCATED_OBJECT');
    const frame = 4 + 64 * 1024 + 16;
    expect(await codeOf(decrypt(KEY, enc.subarray(0, 40 + 2 * frame)))).toBe('TRUNCATED_OBJECT');
    expect(await codeOf(decrypt(KEY, enc.subarray(0, 20)))).toBe('TRUNCATED_OBJECT');
  });

  it('appended bytes and reordered frames → DECRYPT_FAILED', async () => {
    const enc = await encrypt(KEY, sample(64 * 1024 * 3), 64 * 1024);
    expect(await codeOf(decrypt(KEY, Buffer.concat([enc, Buffer.from('xx')])))).toBe('DECRYPT_FAILED');
    const frame = 4 + 64 * 1024 + 16;
    const f0 = enc.subarray(40, 40 + frame);
    const f1 = enc.subarray(40 + frame, 40 + 2 * frame);
    const swapped = Buffer.concat([enc.subarray(0, 40), f1, f0, enc.subarray(40 + 2 * frame)]);
    expect(await codeOf(decrypt(KEY, swapped))).toBe('DECRYPT_FAILED');
  });

  it('wrong key → REPO_KEY_MISMATCH, detected from the fingerprint', async () => {
    const enc = await encrypt(KEY, Buffer.from('secret WAL'));
    const other = randomBytes(32);
    expect(keyFingerprint(other)).not.toBe(keyFingerprint(KEY));
    expect(await codeOf(decrypt(other, enc))).toBe('REPO_KEY_MISMATCH');
  });

  it('through a CodecStore: tampered, truncated and wrong-key objects fail with three distinct codes', async () => {
    const { store, dir } = tempStore();
    const cs = createCodecStore(store, { compression: 'gzip', key: KEY });
    const data = sample(300_000);
    await cs.put('t/tampered', data);
    await cs.put('t/truncated', data);
    await cs.put('t/key', data);
    const file = (k: string): string => join(dir, ...k.split('/'));
    const tampered = readFileSync(file('t/tampered'));
    tampered[tampered.length >> 1] = (tampered[tampered.length >> 1] as number) ^ 0x10;
    writeFileSync(file('t/tampered'), tampered);
    const truncated = readFileSync(file('t/truncated'));
    writeFileSync(file('t/truncated'), truncated.subarray(0, truncated.length - 100));
    const other = createCodecStore(store, { compression: 'gzip', key: randomBytes(32) });

    const codes = [
      await codeOf(cs.getBuffer('t/tampered')),
      await codeOf(cs.getBuffer('t/truncated')),
      await codeOf(other.getBuffer('t/key')),
    ];
    expect(codes).toEqual(['DECRYPT_FAILED', 'TRUNCATED_OBJECT', 'REPO_KEY_MISMATCH']);
    expect(new Set(codes).size).toBe(3);
    // No temp files were left behind by any put.
    expect(readdirSync(join(dir, 't')).sort()).toEqual(['key', 'tampered', 'truncated']);
  });

  it('checksum mismatch → CHECKSUM_MISMATCH (plain object changed on disk; wrong expected digest)', async () => {
    const { store, dir } = tempStore();
    const cs = createCodecStore(store, { compression: 'none' });
    const r = await cs.put('k', Buffer.from('original bytes'));
    writeFileSync(join(dir, 'k'), 'changed  bytes');
    expect(await codeOf(cs.getBuffer('k', { sha256: r.sha256 }))).toBe('CHECKSUM_MISMATCH');
    const gz = createCodecStore(store, { compression: 'gzip', key: KEY });
    await gz.put('g', Buffer.from('abc'));
    expect(await codeOf(gz.getBuffer('g', { sha256: sha(Buffer.from('abd')) }))).toBe('CHECKSUM_MISMATCH');
    expect((await gz.getBuffer('g', { sha256: sha(Buffer.from('abc')) })).toString()).toBe('abc');
  });

  it('truncated and corrupted gzip (no encryption) → TRUNCATED_OBJECT / COMPRESSION_ERROR', async () => {
    const { store, dir } = tempStore();
    const cs = createCodecStore(store, { compression: 'gzip' });
    await cs.put('z1', sample(100_000));
    await cs.put('z2', sample(100_000));
    const z1 = readFileSync(join(dir, 'z1'));
    writeFileSync(join(dir, 'z1'), z1.subarray(0, z1.length - 50));
    const z2 = readFileSync(join(dir, 'z2'));
    z2.fill(0xff, 100, 140);
    writeFileSync(join(dir, 'z2'), z2);
    expect(await codeOf(cs.getBuffer('z1'))).toBe('TRUNCATED_OBJECT');
    expect(['COMPRESSION_ERROR', 'CHECKSUM_MISMATCH']).toContain(await codeOf(cs.getBuffer('z2')));
  });

  it('unsupported compression and bad keys are refused up front', () => {
    const { store } = tempStore();
    expect(() => createCodecStore(store, { compression: 'zstd' })).toThrow(/not supported/);
    expect(() => createCodecStore(store, { compression: 'none', key: randomBytes(16) })).toThrow(/32 bytes/);
  });
});

describe('storage transforms: a failing body', () => {
  it('rejects the put (no uncaught error) and leaves no object when the source fails at once', async () => {
    const { store, dir } = tempStore();
    const cs = createCodecStore(store, { compression: 'gzip', key: KEY });
    const failing = new Readable({
      read() {
        this.destroy(new Error('source broke'));
      },
    });
    await expect(cs.put('a/b/obj', failing)).rejects.toThrow(/source broke/);
    expect(await store.head('a/b/obj')).toBeNull();
    expect(readdirSync(dir, { recursive: true }).filter((f) => String(f).includes('obj'))).toEqual([]);
  });
});
