import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { isPitrdError } from '../../src/errors.js';
import { FsObjectStore, Sha256Meter, createCodecStore, type CodecOptions } from '../../src/storage/index.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
afterEach(() => {
  vi.restoreAllMocks();
});

function tempStore(): FsObjectStore {
  const dir = mkdtempSync(join(tmpdir(), 'pitrd-prehashed-'));
  dirs.push(dir);
  return new FsObjectStore({ path: dir, fsync: false });
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const KEY = randomBytes(32);

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return isPitrdError(err) ? err.code : `not a PitrdError: ${String(err)}`;
  }
  return 'resolved';
}

const codecs: [string, CodecOptions][] = [
  ['none', { compression: 'none' }],
  ['gzip', { compression: 'gzip' }],
  ['gzip + encrypted', { compression: 'gzip', key: KEY }],
];

describe('CodecStore.put with a caller-given sha256', () => {
  for (const [name, codec] of codecs) {
    it(`${name}: a Buffer is not hashed again, returns the given digest and reads back verified`, async () => {
      const cs = createCodecStore(tempStore(), codec);
      const data = randomBytes(200 * 1024);
      const sum = sha(data);
      const metered = vi.spyOn(Sha256Meter.prototype, '_transform');
      const r = await cs.put('wal/seg', data, { sha256: sum, ifNoneMatch: true, contentLength: data.length });
      expect(metered).not.toHaveBeenCalled();
      expect(r).toMatchObject({ key: 'wal/seg', originalSize: data.length, sha256: sum });
      metered.mockRestore();
      expect((await cs.getBuffer('wal/seg', { sha256: sum })).equals(data)).toBe(true);
      // ifNoneMatch still reaches the driver on this path.
      expect(await codeOf(cs.put('wal/seg', data, { sha256: sum, ifNoneMatch: true }))).toBe('OBJECT_EXISTS');
    });
  }

  it('a Buffer whose length differs from contentLength is refused before anything is stored', async () => {
    const store = tempStore();
    const cs = createCodecStore(store, { compression: 'gzip' });
    const data = Buffer.from('twelve bytes');
    expect(await codeOf(cs.put('k', data, { sha256: sha(data), contentLength: 11 }))).toBe('VALIDATION_ERROR');
    expect(await store.head('k')).toBeNull();
  });

  it('a stream is still hashed: a matching digest stores it, a wrong one is CHECKSUM_MISMATCH and leaves no object', async () => {
    const store = tempStore();
    const cs = createCodecStore(store, { compression: 'gzip', key: KEY });
    const data = randomBytes(300 * 1024);
    const ok = await cs.put('good', Readable.from([data.subarray(0, 1000), data.subarray(1000)]), { sha256: sha(data) });
    expect(ok.sha256).toBe(sha(data));
    expect((await cs.getBuffer('good', { sha256: sha(data) })).equals(data)).toBe(true);
    expect(await codeOf(cs.put('bad', Readable.from([data]), { sha256: sha(Buffer.from('other')) }))).toBe('CHECKSUM_MISMATCH');
    expect(await store.head('bad')).toBeNull();
  });

  it('without a given sha256 a Buffer is hashed by the store as before', async () => {
    const cs = createCodecStore(tempStore(), { compression: 'gzip' });
    const data = randomBytes(1024);
    const metered = vi.spyOn(Sha256Meter.prototype, '_transform');
    expect((await cs.put('k', data)).sha256).toBe(sha(data));
    expect(metered).toHaveBeenCalled();
  });
});
