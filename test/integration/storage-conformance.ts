/**
 * The one storage conformance suite: every ObjectStore driver must pass it unchanged.
 * storage-fs.test.ts and storage-s3.test.ts run it against a local directory and against a
 * real s3rver process.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PitrdError } from '../../src/errors.js';
import { createCodecStore, streamToBuffer, type ObjectStore } from '../../src/storage/index.js';

export interface ConformanceHarness {
  store: ObjectStore;
  /** Simulate an outage of the storage service (drivers that have one). */
  outage?: { stop(): Promise<void>; start(): Promise<void> };
  teardown(): Promise<void>;
}

async function errorOf(p: Promise<unknown>): Promise<PitrdError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(PitrdError);
    return err as PitrdError;
  }
  throw new Error('expected a PitrdError, got success');
}

/** Run async jobs with at most `n` in flight. */
async function bounded<T>(items: T[], n: number, fn: (t: T) => Promise<unknown>): Promise<void> {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: n }, async () => {
      for (let t = queue.shift(); t !== undefined; t = queue.shift()) await fn(t);
    }),
  );
}

/** `total` bytes of deterministic pseudo-random data produced 1 MiB at a time (never one Buffer). */
function generated(total: number, hash: ReturnType<typeof createHash>): Readable {
  let produced = 0;
  const seed = randomBytes(32);
  return new Readable({
    read() {
      if (produced >= total) return void this.push(null);
      const n = Math.min(1 << 20, total - produced);
      const block = Buffer.alloc(n);
      // Cheap and incompressible enough: a 32-byte digest repeated with the block counter.
      const d = createHash('sha256').update(seed).update(String(produced)).digest();
      for (let i = 0; i < n; i += 32) d.copy(block, i, 0, Math.min(32, n - i));
      produced += n;
      hash.update(block);
      this.push(block);
    },
  });
}

export function storageConformance(
  name: string,
  factory: () => Promise<ConformanceHarness>,
  opts: {
    outages: boolean;
    /**
     * False for s3rver, which lists by walking its directories, so 'a/b' comes before 'a.txt'
     * (real S3 and the fs driver use byte order of the whole key). Then only the set of keys
     * and the order within one "directory" level are checked.
     */
    byteOrderAcrossSegments: boolean;
  },
): void {
  describe(`ObjectStore conformance: ${name}`, () => {
    let h: ConformanceHarness;
    let s: ObjectStore;
    beforeAll(async () => {
      h = await factory();
      s = h.store;
    });
    afterAll(async () => {
      await h?.teardown();
    });

    it('put/get of Buffers and streams, overwrite, missing objects', async () => {
      const r = await s.put('basic/one.txt', Buffer.from('first'));
      expect(r).toEqual({ key: 'basic/one.txt', size: 5 });
      expect((await s.getBuffer('basic/one.txt')).toString()).toBe('first');
      await s.put('basic/one.txt', Readable.from([Buffer.from('second '), Buffer.from('version')]));
      expect((await streamToBuffer(await s.get('basic/one.txt'))).toString()).toBe('second version');
      await s.put('basic/empty', Buffer.alloc(0));
      expect((await s.getBuffer('basic/empty')).length).toBe(0);
      expect((await errorOf(s.get('basic/missing'))).code).toBe('OBJECT_NOT_FOUND');
      expect((await errorOf(s.getBuffer('nowhere/at/all'))).code).toBe('OBJECT_NOT_FOUND');
    });

    it('rejects invalid keys with VALIDATION_ERROR naming the key', async () => {
      for (const bad of ['../escape', '/abs', 'a//b', 'a/../b', '', 'trailing/', 'a/./b']) {
        const e = await errorOf(s.put(bad, Buffer.from('x')));
        expect(e.code).toBe('VALIDATION_ERROR');
        expect(e.message).toContain(JSON.stringify(bad));
        expect(e.context.key).toBe(bad);
      }
      expect((await errorOf(s.get('../x'))).code).toBe('VALIDATION_ERROR');
    });

    it('byte ranges', async () => {
      const data = Buffer.from('0123456789abcdefghij');
      await s.put('range/obj', data);
      expect((await s.getBuffer('range/obj', { start: 0, end: 0 })).toString()).toBe('0');
      expect((await s.getBuffer('range/obj', { start: 5, end: 9 })).toString()).toBe('56789');
      expect((await s.getBuffer('range/obj', { start: 15 })).toString()).toBe('fghij');
      // An end past the object is clamped, as HTTP ranges are.
      expect((await s.getBuffer('range/obj', { start: 18, end: 1000 })).toString()).toBe('ij');
      expect((await errorOf(s.getBuffer('range/obj', { start: 5, end: 2 }))).code).toBe('VALIDATION_ERROR');
      expect((await errorOf(s.getBuffer('range/missing', { start: 1 }))).code).toBe('OBJECT_NOT_FOUND');
    });

    it('head', async () => {
      const before = Date.now();
      await s.put('head/x', Buffer.alloc(1234, 7));
      const info = await s.head('head/x');
      expect(info?.key).toBe('head/x');
      expect(info?.size).toBe(1234);
      // Servers store seconds; allow for it.
      expect(info!.lastModified.getTime()).toBeGreaterThan(before - 60_000);
      expect(await s.head('head/absent')).toBeNull();
      expect(await s.head('head')).toBeNull(); // a "directory" is not an object
    });

    it('list: byte order, partial prefixes, small pages', async () => {
      const keys = ['ord/a.txt', 'ord/a/b', 'ord/a0', 'ord/A', 'ord/b/c/d', 'ord/b-x', 'ord/z'];
      for (const k of keys) await s.put(k, Buffer.from(k));
      const expected = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      const all: string[] = [];
      for await (const o of s.listAll('ord/')) all.push(o.key);
      const flat = (ks: string[]): string[] => ks.filter((k) => k.split('/').length === 2);
      if (opts.byteOrderAcrossSegments) {
        expect(all).toEqual(expected);
      } else {
        expect([...all].sort()).toEqual([...expected].sort());
        expect(flat(all)).toEqual(flat(expected));
      }
      const aKeys = (await s.list('ord/a')).objects.map((o) => o.key);
      expect([...aKeys].sort()).toEqual(expected.filter((k) => k.startsWith('ord/a')).sort());
      expect((await s.list('ord/b/')).objects.map((o) => o.key)).toEqual(['ord/b/c/d']);
      expect((await s.list('nothing-here/')).objects).toEqual([]);
      // Pages of 3 reassemble to the whole listing (flat keys: s3rver's continuation token is
      // a start-after key, which only works where its walk order is byte order).
      const flatKeys = ['flat/k1', 'flat/k2', 'flat/k3', 'flat/k4', 'flat/k5', 'flat/k6', 'flat/k7'];
      for (const k of flatKeys) await s.put(k, Buffer.from(k));
      const paged: string[] = [];
      let token: string | undefined;
      let pages = 0;
      do {
        const page = await s.list('flat/', { limit: 3, ...(token ? { token } : {}) });
        expect(page.objects.length).toBeLessThanOrEqual(3);
        paged.push(...page.objects.map((o) => o.key));
        token = page.nextToken;
        pages++;
      } while (token);
      expect(paged).toEqual(flatKeys);
      expect(pages).toBe(3);
      const sized = (await s.list('ord/z')).objects[0];
      expect(sized?.size).toBe(5);
    });

    it('list pagination over 1,050 keys, then batched idempotent delete', async () => {
      const keys = Array.from({ length: 1050 }, (_, i) => `many/k${String(i).padStart(5, '0')}`);
      await bounded(keys, 16, (k) => s.put(k, Buffer.from(k)));
      const p1 = await s.list('many/');
      expect(p1.objects.length).toBe(1000);
      expect(p1.nextToken).toBeDefined();
      const p2 = await s.list('many/', { token: p1.nextToken! });
      expect(p2.objects.length).toBe(50);
      expect(p2.nextToken).toBeUndefined();
      expect([...p1.objects, ...p2.objects].map((o) => o.key)).toEqual(keys);
      let n = 0;
      for await (const _ of s.listAll('many/')) n++;
      expect(n).toBe(1050);

      // One call, more than one S3 batch, with keys that never existed mixed in.
      await s.delete([...keys, 'many/never-was', 'other/never-was']);
      expect((await s.list('many/')).objects).toEqual([]);
      await s.delete(keys.slice(0, 10)); // idempotent
      await s.delete([]);
    });

    it('ifNoneMatch: create-only puts fail with OBJECT_EXISTS and leave the object intact', async () => {
      await s.put('once/obj', Buffer.from('v1'), { ifNoneMatch: true });
      const e = await errorOf(s.put('once/obj', Buffer.from('v2'), { ifNoneMatch: true }));
      expect(e.code).toBe('OBJECT_EXISTS');
      expect(e.context.key).toBe('once/obj');
      const e2 = await errorOf(s.put('once/obj', Readable.from([Buffer.from('v3')]), { ifNoneMatch: true }));
      expect(e2.code).toBe('OBJECT_EXISTS');
      expect((await s.getBuffer('once/obj')).toString()).toBe('v1');
    });

    it('streams a 64 MiB object in and out with bounded memory', async () => {
      const total = 64 * 1024 * 1024;
      const inHash = createHash('sha256');
      global.gc?.();
      const rss0 = process.memoryUsage().rss;
      let peak = rss0;
      const sampler = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().rss);
      }, 20);
      try {
        const r = await s.put('big/blob', generated(total, inHash), { contentLength: total });
        expect(r.size).toBe(total);
        expect((await s.head('big/blob'))?.size).toBe(total);
        const outHash = createHash('sha256');
        let got = 0;
        for await (const chunk of await s.get('big/blob')) {
          outHash.update(chunk as Buffer);
          got += (chunk as Buffer).length;
        }
        expect(got).toBe(total);
        expect(outHash.digest('hex')).toBe(inHash.digest('hex'));
        // A range deep inside the big object.
        expect((await s.getBuffer('big/blob', { start: total - 10 })).length).toBe(10);
      } finally {
        clearInterval(sampler);
      }
      peak = Math.max(peak, process.memoryUsage().rss);
      const grownMB = (peak - rss0) / 1024 / 1024;
      console.log(`[${name}] 64 MiB stream: peak RSS growth ${grownMB.toFixed(1)} MB`);
      expect(grownMB).toBeLessThan(200);
      await s.delete(['big/blob']);
    });

    it('what the driver declares it can do, it does (capabilities)', async () => {
      const data = randomBytes(4096);
      if (s.capabilities.rangedReads) {
        await s.put('caps/ranged', data);
        expect((await s.getBuffer('caps/ranged', { start: 100, end: 1123 })).equals(data.subarray(100, 1124))).toBe(true);
      }
      expect(typeof s.putFile === 'function').toBe(s.capabilities.linkFiles);
      if (s.capabilities.linkFiles) {
        const dir = mkdtempSync(join(tmpdir(), 'pitrd-caps-'));
        try {
          const file = join(dir, 'segment');
          writeFileSync(file, data);
          expect(await s.putFile!('caps/linked', file, { ifNoneMatch: true, contentLength: data.length })).toEqual({ key: 'caps/linked', size: data.length });
          expect((await s.getBuffer('caps/linked')).equals(data)).toBe(true);
          expect((await errorOf(s.putFile!('caps/linked', file, { ifNoneMatch: true }))).code).toBe('OBJECT_EXISTS');
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }
      await s.delete(['caps/ranged', 'caps/linked']);
    });

    it('signed URL: a plain HTTP GET fetches the bytes', async () => {
      const data = randomBytes(100_000);
      await s.put('signed/a file.bin', data);
      const { url, expiresAt } = await s.signedUrl('signed/a file.bin', 300);
      expect(expiresAt.getTime()).toBeGreaterThan(Date.now());
      const res = await fetch(url);
      expect(res.status).toBe(200);
      expect(Buffer.compare(Buffer.from(await res.arrayBuffer()), data)).toBe(0);
    });

    it('CodecStore over this driver: gzip + AES-256-GCM round trip, streamed and buffered', async () => {
      const key = randomBytes(32);
      const cs = createCodecStore(s, { compression: 'gzip', key });
      const text = Buffer.from('INSERT INTO t VALUES (1);\n'.repeat(40_000));
      const r = await cs.put('codec/buf', text);
      expect(r.originalSize).toBe(text.length);
      expect(r.size).toBeLessThan(text.length / 10);
      expect((await cs.getBuffer('codec/buf', { sha256: r.sha256 })).equals(text)).toBe(true);
      const inHash = createHash('sha256');
      const total = 6 * 1024 * 1024 + 123;
      const r2 = await cs.put('codec/stream', generated(total, inHash), { contentLength: total });
      expect(r2.sha256).toBe(inHash.digest('hex'));
      const out = await streamToBuffer(await cs.get('codec/stream', { sha256: r2.sha256 }));
      expect(out.length).toBe(total);
      const wrongKey = createCodecStore(s, { compression: 'gzip', key: randomBytes(32) });
      expect((await errorOf(wrongKey.getBuffer('codec/buf'))).code).toBe('REPO_KEY_MISMATCH');
    });

    // Only drivers with a separate service have outages to simulate (not the fs driver).
    if (!opts.outages) return;
    it('outage: the service down is a quick retryable STORAGE_UNAVAILABLE, and it recovers', async () => {
      if (!h.outage) throw new Error(`${name}: harness has no outage control`);
      await s.put('outage/before', Buffer.from('kept'));
      await h.outage.stop();
      try {
        for (const op of [
          () => s.put('outage/during', Buffer.from('x')),
          () => s.put('outage/during-stream', Readable.from([Buffer.from('y')])),
          () => s.getBuffer('outage/before'),
          () => s.head('outage/before'),
          () => s.list('outage/'),
          () => s.delete(['outage/before']),
        ]) {
          const e = await errorOf(op());
          expect(e.code).toBe('STORAGE_UNAVAILABLE');
          expect(e.retryable).toBe(true);
          expect(e.message).toMatch(/unavailable/);
        }
      } finally {
        await h.outage.start();
      }
      expect((await s.getBuffer('outage/before')).toString()).toBe('kept');
      await s.put('outage/after', Buffer.from('ok'));
      expect((await s.head('outage/after'))?.size).toBe(2);
    });
  });
}
