/**
 * A WAL segment's bytes are hashed once per upload: the archive computes the sha256 it needs for
 * its conflict check and hands it to the codec store, whose own meter then stays idle. Dedupe
 * and conflict detection must be unchanged by that.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { isPitrdError } from '../../src/errors.js';
import { openRepository } from '../../src/repository/index.js';
import { Sha256Meter } from '../../src/storage/index.js';
import { fsDriver, s3Driver, snapshot, type DriverFixture } from './repository-drivers.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const segmentBytes = () => randomBytes(64 * 1024);
const SEG = '00000001000000000000000A';

for (const [name, make] of [
  ['fs', fsDriver],
  ['s3', s3Driver],
] as const) {
  describe(`WAL segment upload hashes once on ${name}`, () => {
    let d: DriverFixture;
    beforeAll(async () => {
      d = await make();
    });
    afterAll(async () => {
      await d?.stop();
    });
    afterEach(() => {
      vi.restoreAllMocks();
    });

    for (const compression of ['none', 'gzip'] as const) {
      it(`${compression}: stores without the codec meter, then dedupes and detects a conflict`, async () => {
        const store = await d.fresh();
        const wal = (await openRepository(store, { compression })).database({ project: 'default', name: 'main' }).wal;
        const seg = segmentBytes();
        const metered = vi.spyOn(Sha256Meter.prototype, '_transform');
        expect(await wal.putSegment(1, SEG, seg)).toEqual({ outcome: 'stored', sha256: sha(seg) });
        expect(metered).not.toHaveBeenCalled();
        metered.mockRestore();

        // The marker carries the archive's digest, and reads verify against it.
        const keys = (await snapshot(store)).map((k) => k.split(':')[0]!);
        expect(keys).toContain(`projects/default/databases/main/wal/00000001/${SEG}.${sha(seg)}.${seg.length}.idx`);
        expect((await wal.getSegment(1, SEG)).equals(seg)).toBe(true);

        const before = await snapshot(store);
        expect(await wal.putSegment(1, SEG, Buffer.from(seg))).toEqual({ outcome: 'exists', sha256: sha(seg) });
        const other = segmentBytes();
        let err: unknown;
        await wal.putSegment(1, SEG, other).catch((e: unknown) => {
          err = e;
        });
        expect(isPitrdError(err, 'WAL_SEGMENT_CONFLICT')).toBe(true);
        expect((err as Error).message).toContain(sha(other));
        expect(await snapshot(store)).toEqual(before);
      });
    }
  });
}
