/**
 * How the receiver's uploader hands a spooled segment to the repository: WalArchive.putSegmentFile,
 * with the sha256 the segment writer computed. On both drivers it keeps putSegment's contract
 * (stored / exists / WAL_SEGMENT_CONFLICT, never an overwrite); on an uncompressed fs repository
 * the bytes never pass through JS (a hard link on the same filesystem, a kernel copy across
 * filesystems), and finding out whether a segment is already there does not list the timeline.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { isPitrdError } from '../../src/errors.js';
import { openRepository } from '../../src/repository/index.js';
import { createObjectStore } from '../../src/storage/index.js';
import { lazyDrivers, snapshot } from './repository-drivers.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const SEG = '00000001000000000000000A';
const dirs: string[] = [];
const tempDir = (root = tmpdir()) => {
  const d = mkdtempSync(join(root, 'pitrd-archive-file-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A "spooled" segment file and its bytes. */
function spooled(bytes = randomBytes(64 * 1024)): { path: string; bytes: Buffer } {
  const path = join(tempDir(), SEG);
  writeFileSync(path, bytes);
  return { path, bytes };
}

for (const driver of lazyDrivers()) {
  describe(`putSegmentFile on ${driver.name}`, () => {
    afterAll(async () => {
      await driver.stop();
    });

    for (const compression of ['none', 'gzip'] as const) {
      it(`${compression}: stores the file with the given sum, then exists, then conflict; the stored segment stays`, async () => {
        const store = await driver.fresh();
        const wal = (await openRepository(store, { compression })).database({ project: 'default', name: 'main' }).wal;
        const seg = spooled();
        expect(await wal.putSegmentFile!(1, SEG, { path: seg.path, sha256: sha(seg.bytes) })).toEqual({ outcome: 'stored', sha256: sha(seg.bytes) });
        expect((await wal.getSegment(1, SEG)).equals(seg.bytes)).toBe(true);
        expect((await snapshot(store)).map((k) => k.split(':')[0])).toContain(`projects/default/databases/main/wal/00000001/${SEG}.${sha(seg.bytes)}.${seg.bytes.length}.idx`);

        const before = await snapshot(store);
        // Without a sum the file is hashed here.
        expect(await wal.putSegmentFile!(1, SEG, { path: spooled(Buffer.from(seg.bytes)).path })).toEqual({ outcome: 'exists', sha256: sha(seg.bytes) });
        const other = spooled();
        let err: unknown;
        await wal.putSegmentFile!(1, SEG, { path: other.path, sha256: sha(other.bytes) }).catch((e: unknown) => {
          err = e;
        });
        expect(isPitrdError(err, 'WAL_SEGMENT_CONFLICT')).toBe(true);
        expect((err as Error).message).toContain(sha(other.bytes));
        expect(await snapshot(store)).toEqual(before);
        expect((await wal.getSegment(1, SEG)).equals(seg.bytes)).toBe(true);
      });
    }

    it('completes an interrupted put (segment without marker) and restores a segment whose object is gone', async () => {
      const store = await driver.fresh();
      const wal = (await openRepository(store, { compression: 'none' })).database({ project: 'default', name: 'main' }).wal;
      const seg = spooled();
      await wal.putSegmentFile!(1, SEG, { path: seg.path, sha256: sha(seg.bytes) });
      const keys = (await snapshot(store)).map((k) => k.split(':')[0]!);
      const marker = keys.find((k) => k.endsWith('.idx'))!;
      const object = keys.find((k) => k.endsWith(SEG))!;

      await store.delete([marker]);
      expect(await wal.hasSegment(1, SEG)).toBe(false);
      expect((await wal.putSegmentFile!(1, SEG, { path: seg.path, sha256: sha(seg.bytes) })).outcome).toBe('exists');
      expect(await wal.hasSegment(1, SEG)).toBe(true);

      await store.delete([object]);
      expect(await wal.hasSegment(1, SEG)).toBe(false);
      expect((await wal.putSegmentFile!(1, SEG, { path: seg.path, sha256: sha(seg.bytes) })).outcome).toBe('stored');
      expect((await wal.getSegment(1, SEG)).equals(seg.bytes)).toBe(true);
    });
  });
}

describe('putSegmentFile on an uncompressed fs repository', () => {
  it('links the spooled file on the same filesystem and does not list the timeline to probe', async () => {
    const root = tempDir();
    const store = createObjectStore({ type: 'fs', path: join(root, 'repo') });
    const wal = (await openRepository(store, { compression: 'none' })).database({ project: 'default', name: 'main' }).wal;
    // Many segments already archived: the probe must not read the timeline directory for each put.
    for (let i = 0; i < 3; i++) {
      const name = `00000001000000000000000${i}`;
      const b = randomBytes(1024);
      await wal.putSegment(1, name, b);
    }
    const seg = spooled();
    const listed = vi.spyOn(store, 'list');
    expect((await wal.putSegmentFile!(1, SEG, { path: seg.path, sha256: sha(seg.bytes) })).outcome).toBe('stored');
    expect(listed).not.toHaveBeenCalled();
    listed.mockRestore();
    const stored = join(root, 'repo/projects/default/databases/main/wal/00000001', SEG);
    expect(statSync(stored).ino).toBe(statSync(seg.path).ino);
    // The spool removes its name afterwards; the repository keeps the bytes.
    rmSync(seg.path);
    expect((await wal.getSegment(1, SEG)).equals(seg.bytes)).toBe(true);
    await store.close();
  });

  it('replaces a torn uncommitted object with the spooled file, leaving no temp file', async () => {
    const root = tempDir();
    const store = createObjectStore({ type: 'fs', path: root });
    const wal = (await openRepository(store, { compression: 'none' })).database({ project: 'default', name: 'main' }).wal;
    const seg = spooled();
    // A short object under the segment's key and no marker: an interrupted put on a store that
    // is not atomic.
    await store.put(`projects/default/databases/main/wal/00000001/${SEG}`, seg.bytes.subarray(0, 100));
    expect((await wal.putSegmentFile!(1, SEG, { path: seg.path, sha256: sha(seg.bytes) })).outcome).toBe('stored');
    const dir = join(root, 'projects/default/databases/main/wal/00000001');
    expect(readdirSync(dir).sort()).toEqual([SEG, `${SEG}.${sha(seg.bytes)}.${seg.bytes.length}.idx`]);
    expect((await wal.getSegment(1, SEG)).equals(seg.bytes)).toBe(true);
    await store.close();
  });

  it('copies through the kernel into a repository on another filesystem, leaving no temp file', async () => {
    if (!existsSync('/dev/shm') || statSync('/dev/shm').dev === statSync(tmpdir()).dev) {
      throw new Error('this test needs /dev/shm on another filesystem than the temp directory');
    }
    const repoRoot = tempDir('/dev/shm');
    const store = createObjectStore({ type: 'fs', path: repoRoot });
    const wal = (await openRepository(store, { compression: 'none' })).database({ project: 'default', name: 'main' }).wal;
    const seg = spooled();
    expect((await wal.putSegmentFile!(1, SEG, { path: seg.path, sha256: sha(seg.bytes) })).outcome).toBe('stored');
    const dir = join(repoRoot, 'projects/default/databases/main/wal/00000001');
    expect(statSync(join(dir, SEG)).ino).not.toBe(statSync(seg.path).ino);
    expect(readdirSync(dir).sort()).toEqual([SEG, `${SEG}.${sha(seg.bytes)}.${seg.bytes.length}.idx`]);
    rmSync(seg.path);
    expect((await wal.getSegment(1, SEG)).equals(seg.bytes)).toBe(true);
    await store.close();
  });
});
