import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPitrdError } from '../../src/errors.js';
import { openRepository, type StoredWalSegment } from '../../src/repository/index.js';
import type { ObjectStore } from '../../src/storage/types.js';
import { fsDriver, s3Driver, snapshot, type DriverFixture } from './repository-drivers.js';

const drivers = [
  ['fs', fsDriver],
  ['s3', s3Driver],
] as const;

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
/** A fake 64 KiB "segment": the repository does not interpret segment bytes. */
const segmentBytes = (tag: string) => Buffer.concat([Buffer.from(`segment ${tag} `), randomBytes(64 * 1024 - 20)]);

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

async function rejection(p: Promise<unknown>) {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected the promise to reject');
}

for (const [name, make] of drivers) {
  describe(`WAL archive on ${name}`, () => {
    let d: DriverFixture;
    beforeAll(async () => {
      d = await make();
    });
    afterAll(async () => {
      await d?.stop();
    });

    it('stores a segment under wal/{TLI}/{SEGMENT}.gz and reads it back', async () => {
      const store = await d.fresh();
      const wal = (await openRepository(store, { compression: 'gzip' })).database({ project: 'default', name: 'main' }).wal;
      const seg = segmentBytes('a');
      const r = await wal.putSegment(1, '000000010000000000000003', seg);
      expect(r).toEqual({ outcome: 'stored', sha256: sha(seg) });
      const keys = (await snapshot(store)).map((k) => k.split(':')[0]);
      expect(keys).toContain('projects/default/databases/main/wal/00000001/000000010000000000000003.gz');
      expect((await wal.getSegment(1, '000000010000000000000003')).equals(seg)).toBe(true);
      expect(await wal.hasSegment(1, '000000010000000000000003')).toBe(true);
      expect(await wal.hasSegment(1, '000000010000000000000004')).toBe(false);
      const listed = await all(wal.listSegments());
      expect(listed).toHaveLength(1);
      expect(listed[0]).toMatchObject({
        timeline: 1,
        name: '000000010000000000000003',
        size: seg.length,
        sha256: sha(seg),
        key: 'projects/default/databases/main/wal/00000001/000000010000000000000003.gz',
        compression: 'gzip',
      });
      const chunks: Buffer[] = [];
      for await (const c of await wal.readListedSegment(listed[0]!)) chunks.push(c as Buffer);
      expect(Buffer.concat(chunks).equals(seg)).toBe(true);
      expect(Number.isNaN(Date.parse(listed[0]!.archived_at))).toBe(false);
    });

    it('uses no extension without compression', async () => {
      const store = await d.fresh();
      const wal = (await openRepository(store, { compression: 'none' })).database({ project: 'default', name: 'main' }).wal;
      await wal.putSegment(1, '000000010000000000000001', segmentBytes('n'));
      const keys = (await snapshot(store)).map((k) => k.split(':')[0]);
      expect(keys).toContain('projects/default/databases/main/wal/00000001/000000010000000000000001');
    });

    it('the same content again is "exists" and writes nothing', async () => {
      const store = await d.fresh();
      const wal = (await openRepository(store, { compression: 'gzip' })).database({ project: 'default', name: 'main' }).wal;
      const seg = segmentBytes('b');
      await wal.putSegment(1, '000000010000000000000005', seg);
      const before = await snapshot(store);
      expect(await wal.putSegment(1, '000000010000000000000005', Buffer.from(seg))).toEqual({ outcome: 'exists', sha256: sha(seg) });
      expect(await snapshot(store)).toEqual(before);
    });

    it('different content is WAL_SEGMENT_CONFLICT naming both checksums; the stored segment is intact', async () => {
      const store = await d.fresh();
      const wal = (await openRepository(store, { compression: 'gzip' })).database({ project: 'default', name: 'main' }).wal;
      const seg = segmentBytes('c');
      const other = segmentBytes('d');
      await wal.putSegment(2, '000000020000000000000007', seg);
      const before = await snapshot(store);
      const err = await rejection(wal.putSegment(2, '000000020000000000000007', other));
      expect(isPitrdError(err, 'WAL_SEGMENT_CONFLICT')).toBe(true);
      const msg = (err as Error).message;
      expect(msg).toContain('000000020000000000000007');
      expect(msg).toContain('timeline 2');
      expect(msg).toContain(sha(seg));
      expect(msg).toContain(sha(other));
      expect(await snapshot(store)).toEqual(before);
      expect((await wal.getSegment(2, '000000020000000000000007')).equals(seg)).toBe(true);
    });

    it('an interrupted put (segment without marker) is invisible, then completed by the next put', async () => {
      const store = await d.fresh();
      const wal = (await openRepository(store, { compression: 'gzip' })).database({ project: 'default', name: 'main' }).wal;
      const seg = segmentBytes('e');
      await wal.putSegment(1, '000000010000000000000009', seg);
      const marker = (await snapshot(store)).map((k) => k.split(':')[0]!).find((k) => k.endsWith('.idx'))!;
      expect(marker).toBe(`projects/default/databases/main/wal/00000001/000000010000000000000009.${sha(seg)}.${seg.length}.idx`);
      await store.delete([marker]);
      expect(await wal.hasSegment(1, '000000010000000000000009')).toBe(false);
      expect(await all(wal.listSegments())).toEqual([]);
      // Different content must not replace the uncommitted object either.
      expect(isPitrdError(await rejection(wal.putSegment(1, '000000010000000000000009', segmentBytes('f'))), 'WAL_SEGMENT_CONFLICT')).toBe(true);
      expect(await wal.putSegment(1, '000000010000000000000009', seg)).toEqual({ outcome: 'exists', sha256: sha(seg) });
      expect(await wal.hasSegment(1, '000000010000000000000009')).toBe(true);
      expect((await wal.getSegment(1, '000000010000000000000009')).equals(seg)).toBe(true);
    });

    it('a torn uncommitted object (a non-atomic store killed mid-write) is replaced by the next put', async () => {
      const store = await d.fresh();
      const wal = (await openRepository(store, { compression: 'gzip' })).database({ project: 'default', name: 'main' }).wal;
      const seg = segmentBytes('torn');
      await wal.putSegment(1, '00000001000000000000000A', seg);
      const keys = (await snapshot(store)).map((k) => k.split(':')[0]!).filter((k) => k.includes('00000001000000000000000A'));
      const marker = keys.find((k) => k.endsWith('.idx'))!;
      const object = keys.find((k) => !k.endsWith('.idx'))!;
      const whole = await store.getBuffer(object);
      await store.delete([marker]);
      await store.put(object, whole.subarray(0, Math.floor(whole.length / 2)));
      expect(await wal.hasSegment(1, '00000001000000000000000A')).toBe(false);
      expect(await wal.putSegment(1, '00000001000000000000000A', seg)).toEqual({ outcome: 'stored', sha256: sha(seg) });
      expect(await wal.hasSegment(1, '00000001000000000000000A')).toBe(true);
      expect((await wal.getSegment(1, '00000001000000000000000A')).equals(seg)).toBe(true);
    });

    it('a marker whose segment object is gone does not pass for archived: the next put stores it again', async () => {
      const store = await d.fresh();
      const wal = (await openRepository(store, { compression: 'gzip' })).database({ project: 'default', name: 'main' }).wal;
      const seg = segmentBytes('lost');
      await wal.putSegment(1, '00000001000000000000000A', seg);
      await store.delete(['projects/default/databases/main/wal/00000001/00000001000000000000000A.gz']);
      expect(await wal.hasSegment(1, '00000001000000000000000A')).toBe(false);
      expect(await wal.lastSegment()).toBeNull();
      expect(await wal.putSegment(1, '00000001000000000000000A', seg)).toEqual({ outcome: 'stored', sha256: sha(seg) });
      expect((await wal.getSegment(1, '00000001000000000000000A')).equals(seg)).toBe(true);
    });

    it('segments read back across a compression change (the key says how it was stored)', async () => {
      const store = await d.fresh();
      const seg = segmentBytes('g');
      await (await openRepository(store, { compression: 'gzip' })).database({ project: 'default', name: 'main' }).wal.putSegment(1, '000000010000000000000001', seg);
      const wal = (await openRepository(store, { compression: 'none' })).database({ project: 'default', name: 'main' }).wal;
      await wal.putSegment(1, '000000010000000000000002', segmentBytes('h'));
      expect((await wal.getSegment(1, '000000010000000000000001')).equals(seg)).toBe(true);
      expect(await wal.putSegment(1, '000000010000000000000001', seg)).toMatchObject({ outcome: 'exists' });
      expect((await all(wal.listSegments(1))).map((s) => s.name)).toEqual(['000000010000000000000001', '000000010000000000000002']);
    });

    it('a segment altered in the store fails its checksum on read', async () => {
      const store = await d.fresh();
      const wal = (await openRepository(store, { compression: 'none' })).database({ project: 'default', name: 'main' }).wal;
      const seg = segmentBytes('t');
      await wal.putSegment(1, '000000010000000000000001', seg);
      const tampered = Buffer.from(seg);
      tampered[100] = tampered[100]! ^ 0xff;
      await store.put('projects/default/databases/main/wal/00000001/000000010000000000000001', tampered);
      expect(isPitrdError(await rejection(wal.getSegment(1, '000000010000000000000001')), 'CHECKSUM_MISMATCH')).toBe(true);
    });

    it('rejects a segment filed under the wrong timeline or a bad name', async () => {
      const store = await d.fresh();
      const wal = (await openRepository(store, { compression: 'none' })).database({ project: 'default', name: 'main' }).wal;
      expect(isPitrdError(await rejection(wal.putSegment(2, '000000010000000000000001', segmentBytes('x'))), 'VALIDATION_ERROR')).toBe(true);
      expect(isPitrdError(await rejection(wal.putSegment(1, '00000001000000000000001', segmentBytes('x'))), 'VALIDATION_ERROR')).toBe(true);
      expect(await snapshot(store)).toHaveLength(1);
    });

    it('history files: store, exists, conflict, read, list', async () => {
      const store = await d.fresh();
      const wal = (await openRepository(store, { compression: 'gzip' })).database({ project: 'default', name: 'main' }).wal;
      const h2 = Buffer.from('1\t0/3000000\tno recovery target specified\n');
      expect(await wal.getHistory(2)).toBeNull();
      expect(await wal.putHistory(2, h2)).toBe('stored');
      expect(await wal.putHistory(2, Buffer.from(h2))).toBe('exists');
      const err = await rejection(wal.putHistory(2, Buffer.from('1\t0/4000000\tother\n')));
      expect(isPitrdError(err, 'WAL_SEGMENT_CONFLICT')).toBe(true);
      expect((err as Error).message).toContain('00000002.history');
      expect((await wal.getHistory(2))!.equals(h2)).toBe(true);
      await wal.putHistory(3, Buffer.from('1\t0/3000000\tx\n2\t0/5000000\ty\n'));
      expect(await wal.historyTimelines()).toEqual([2, 3]);
      const keys = (await snapshot(store)).map((k) => k.split(':')[0]);
      expect(keys).toContain('projects/default/databases/main/wal/00000002.history');
    });

    it('lists in LSN order and finds the last segment across timelines', async () => {
      const store = await d.fresh();
      const wal = (await openRepository(store, { compression: 'gzip' })).database({ project: 'default', name: 'main' }).wal;
      expect(await wal.lastSegment()).toBeNull();
      // Timeline 1 up to segment 5, then timeline 2 from segment 4 (promotion inside segment 4).
      const put: [number, string][] = [
        [1, '000000010000000000000005'],
        [2, '000000020000000000000004'],
        [1, '000000010000000000000003'],
        [2, '000000020000000000000006'],
        [1, '000000010000000000000004'],
        [2, '000000020000000000000005'],
        [1, '000000010000000100000000'],
      ];
      for (const [tli, seg] of put) await wal.putSegment(tli, seg, segmentBytes(seg));
      const names = (xs: StoredWalSegment[]) => xs.map((s) => s.name);
      expect(names(await all(wal.listSegments(1)))).toEqual(['000000010000000000000003', '000000010000000000000004', '000000010000000000000005', '000000010000000100000000']);
      expect(names(await all(wal.listSegments(2)))).toEqual(['000000020000000000000004', '000000020000000000000005', '000000020000000000000006']);
      expect(names(await all(wal.listSegments()))).toEqual([
        '000000010000000000000003',
        '000000010000000000000004',
        '000000020000000000000004',
        '000000010000000000000005',
        '000000020000000000000005',
        '000000020000000000000006',
        '000000010000000100000000',
      ]);
      expect(await wal.lastSegment()).toEqual({ timeline: 2, name: '000000020000000000000006' });
    });

    it('removeSegments un-commits first and is idempotent', async () => {
      const store = await d.fresh();
      const wal = (await openRepository(store, { compression: 'gzip' })).database({ project: 'default', name: 'main' }).wal;
      await wal.putSegment(1, '000000010000000000000001', segmentBytes('r1'));
      await wal.putSegment(1, '000000010000000000000002', segmentBytes('r2'));
      await wal.removeSegments([{ timeline: 1, name: '000000010000000000000001' }]);
      await wal.removeSegments([{ timeline: 1, name: '000000010000000000000001' }]);
      expect((await all(wal.listSegments())).map((s) => s.name)).toEqual(['000000010000000000000002']);
      expect(isPitrdError(await rejection(wal.getSegment(1, '000000010000000000000001')), 'OBJECT_NOT_FOUND')).toBe(true);
    });

    it('an encrypted repository stores neither segment bytes nor history in the clear', async () => {
      const store: ObjectStore = await d.fresh();
      const key = randomBytes(32);
      const wal = (await openRepository(store, { key, compression: 'none' })).database({ project: 'default', name: 'main' }).wal;
      const seg = Buffer.concat([Buffer.from('PLAINTEXT-MARKER-'), randomBytes(1000)]);
      await wal.putSegment(1, '000000010000000000000001', seg);
      await wal.putHistory(2, Buffer.from('HISTORY-MARKER\n'));
      for (const k of (await snapshot(store)).map((x) => x.split(':')[0]!)) {
        const raw = await store.getBuffer(k);
        expect(raw.includes('PLAINTEXT-MARKER')).toBe(false);
        expect(raw.includes('HISTORY-MARKER')).toBe(false);
      }
      expect((await wal.getSegment(1, '000000010000000000000001')).equals(seg)).toBe(true);
      expect((await (await openRepository(store, { key, compression: 'gzip' })).database({ project: 'default', name: 'main' }).wal.getHistory(2))!.toString()).toBe('HISTORY-MARKER\n');
    });
  });
}
