import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BlockPool } from '../../src/storage/block-pool.js';
import { DIRECT_ALIGN, DirectWriter, directStats } from '../../src/storage/fs-direct.js';
import { DIRECT_AFTER_BYTES, FLUSH_EVERY_BYTES } from '../../src/storage/fs-write.js';
import { readdirSync } from 'node:fs';
import { FsObjectStore } from '../../src/storage/fs.js';
import { pooledSource } from '../harness/pooled-source.js';

/** `data` in pieces of uneven sizes (like gzip or encryption output). */
function uneven(data: Buffer): Readable {
  const parts: Buffer[] = [];
  for (let off = 0, i = 0; off < data.length; i++) {
    const n = [70_001, 1 << 20, 333, 2 * 1024 * 1024 + 5][i % 4]!;
    parts.push(data.subarray(off, off + n));
    off += n;
  }
  return Readable.from(parts);
}

/** The FileHandle prototype, for spying on its methods. */
async function fileHandleProto(dir: string): Promise<{ datasync: () => Promise<void>; sync: () => Promise<void> }> {
  const probe = await open(join(dir, 'probe'), 'w');
  await probe.close();
  return Object.getPrototypeOf(probe) as { datasync: () => Promise<void>; sync: () => Promise<void> };
}

describe('FsObjectStore.put of a stream', () => {
  let dir: string | null = null;
  afterEach(() => {
    vi.restoreAllMocks();
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = null;
  });

  it('without direct writes: gives pooled blocks back once written, flushes as it goes, then fsyncs the file whole', async () => {
    dir = mkdtempSync(join(tmpdir(), 'pitrd-fswrite-'));
    const proto = await fileHandleProto(dir);
    const datasync = vi.spyOn(proto, 'datasync');
    const sync = vi.spyOn(proto, 'sync');

    const data = randomBytes(FLUSH_EVERY_BYTES + 5 * 1024 * 1024 + 99);
    const pool = new BlockPool(1024 * 1024, 8);
    // Buffered all the way (direct writes leave nothing to flush).
    const store = new FsObjectStore({ path: dir, directIo: 'off' });
    const res = await store.put('a/big', pooledSource(pool, data));
    expect(res.size).toBe(data.length);
    expect(readFileSync(join(dir, 'a', 'big')).equals(data)).toBe(true);
    expect(pool.reused).toBeGreaterThan(20);
    expect(datasync).toHaveBeenCalled();
    // The whole file once the flushes are done, then its directory.
    expect(sync).toHaveBeenCalledTimes(2);
    expect(Math.max(...datasync.mock.invocationCallOrder)).toBeLessThan(Math.min(...sync.mock.invocationCallOrder));
  });

  it('without fsync, writes no flushes either', async () => {
    dir = mkdtempSync(join(tmpdir(), 'pitrd-fswrite-'));
    const proto = await fileHandleProto(dir);
    const datasync = vi.spyOn(proto, 'datasync');
    const data = randomBytes(FLUSH_EVERY_BYTES + 1024 * 1024);
    const store = new FsObjectStore({ path: dir, fsync: false });
    await store.put('b', Readable.from([data.subarray(0, FLUSH_EVERY_BYTES), data.subarray(FLUSH_EVERY_BYTES)]));
    expect(readFileSync(join(dir, 'b')).equals(data)).toBe(true);
    expect(datasync).not.toHaveBeenCalled();
  });

  it('writes a large durable object directly past the first bytes, with any chunk sizes and an unaligned end', async () => {
    dir = mkdtempSync(join(tmpdir(), 'pitrd-fswrite-'));
    const store = new FsObjectStore({ path: dir });
    for (const size of [DIRECT_AFTER_BYTES + 19 * 1024 * 1024 + 12_345, DIRECT_AFTER_BYTES + 100, DIRECT_AFTER_BYTES + 1]) {
      const data = randomBytes(size);
      const before = { ...directStats };
      const res = await store.put(`d/${size}`, uneven(data));
      expect(res.size).toBe(size);
      const got = readFileSync(join(dir, 'd', String(size)));
      // Exactly the bytes: the probe block past a short end is cut off.
      expect(got.length).toBe(size);
      expect(got.equals(data)).toBe(true);
      // Direct where the file system allows it, buffered otherwise (tmpfs): one or the other.
      expect(directStats.objects + directStats.fallbacks).toBe(before.objects + before.fallbacks + 1);
    }
    // Objects up to DIRECT_AFTER_BYTES never try.
    const before = { ...directStats };
    await store.put('small', Readable.from([randomBytes(100_000)]));
    await store.put('edge', uneven(randomBytes(DIRECT_AFTER_BYTES)));
    expect(directStats).toEqual(before);
  });

  it('writes pooled blocks directly without staging them once their memory is known to be aligned, in stream order', async () => {
    dir = mkdtempSync(join(tmpdir(), 'pitrd-fswrite-'));
    const store = new FsObjectStore({ path: dir });
    const pool = new BlockPool(1024 * 1024, 48);
    const before = { ...directStats };
    for (const size of [DIRECT_AFTER_BYTES + 60 * 1024 * 1024 + 4321, DIRECT_AFTER_BYTES + 40 * 1024 * 1024]) {
      const data = randomBytes(size);
      const res = await store.put(`p/${size}`, pooledSource(pool, data));
      expect(res.size).toBe(size);
      const got = readFileSync(join(dir, 'p', String(size)));
      expect(got.length).toBe(size);
      expect(got.equals(data)).toBe(true);
    }
    // Blocks came back (also those written as they are) and were used again.
    expect(pool.reused).toBeGreaterThan(60);
    // Where direct I/O works, blocks went to the device as they were, from their first use on
    // (their memory is page-aligned: nothing probed, nothing staged), except around the switch.
    if (directStats.objects > before.objects) expect(directStats.blocksAsIs - before.blocksAsIs).toBeGreaterThan(95);
    else expect(directStats.fallbacks).toBeGreaterThan(before.fallbacks);
  });

  it('a failing body removes the partial object, also after the switch to direct writes', async () => {
    dir = mkdtempSync(join(tmpdir(), 'pitrd-fswrite-'));
    const store = new FsObjectStore({ path: dir });
    let sent = 0;
    const body = new Readable({
      read() {
        if (sent >= DIRECT_AFTER_BYTES + 12 * 1024 * 1024) {
          this.destroy(new Error('source broke'));
          return;
        }
        sent += 1024 * 1024;
        this.push(randomBytes(1024 * 1024));
      },
    });
    await expect(store.put('broken', body)).rejects.toThrow(/source broke/);
    expect((await store.list('')).objects.map((o) => o.key)).toEqual([]);
  });
});

describe('storage.direct_io', () => {
  let dir: string | null = null;
  afterEach(() => {
    vi.restoreAllMocks();
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = null;
  });

  it('auto (the default) goes direct where the file system takes it, off never does', async () => {
    dir = mkdtempSync(join(tmpdir(), 'pitrd-directio-'));
    const data = randomBytes(DIRECT_AFTER_BYTES + 3 * 1024 * 1024 + 7);
    const tried = () => directStats.objects + directStats.fallbacks;
    let before = tried();
    await new FsObjectStore({ path: dir }).put('auto', uneven(data));
    expect(tried()).toBe(before + 1);
    before = tried();
    await new FsObjectStore({ path: dir, directIo: 'off' }).put('off', uneven(data));
    expect(tried()).toBe(before);
    for (const k of ['auto', 'off']) expect(readFileSync(join(dir, k)).equals(data)).toBe(true);
  });

  it('on: a file system that refuses O_DIRECT is CONFIG_INVALID naming the setting, and leaves no object; auto writes buffered there', async () => {
    dir = mkdtempSync(join(tmpdir(), 'pitrd-directio-'));
    // Every file system this runs on takes O_DIRECT (tmpfs too, since Linux 6.6): refuse it here.
    vi.spyOn(DirectWriter, 'open').mockResolvedValue(null);
    const data = randomBytes(DIRECT_AFTER_BYTES + 1024 * 1024);
    const err = await new FsObjectStore({ path: dir, directIo: 'on' }).put('on', uneven(data)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'CONFIG_INVALID', context: { key: 'storage.direct_io' } });
    expect(String((err as Error).message)).toMatch(/storage\.direct_io is on/);
    expect(readdirSync(dir)).toEqual([]);
    await new FsObjectStore({ path: dir }).put('auto', uneven(data));
    expect(readFileSync(join(dir, 'auto')).equals(data)).toBe(true);
  });
});

describe('DirectWriter', () => {
  let dir: string | null = null;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = null;
  });

  it('continues a file at an aligned end, or declines (null) where direct I/O is not available', async () => {
    dir = mkdtempSync(join(tmpdir(), 'pitrd-direct-'));
    const path = join(dir, 'f');
    const fh = await open(path, 'wx');
    const head = randomBytes(3 * DIRECT_ALIGN);
    await fh.write(head);
    expect(await DirectWriter.open(path, 3 * DIRECT_ALIGN + 1)).toBeNull();
    const w = await DirectWriter.open(path, 3 * DIRECT_ALIGN);
    const rest = randomBytes(5 * 1024 * 1024 + 77);
    if (w) {
      await w.write([rest.subarray(0, 10), rest.subarray(10)]);
      await w.finish(fh);
    } else {
      await fh.write(rest);
    }
    await fh.close();
    expect(statSync(path).size).toBe(head.length + rest.length);
    expect(readFileSync(path).equals(Buffer.concat([head, rest]))).toBe(true);
  });
});

