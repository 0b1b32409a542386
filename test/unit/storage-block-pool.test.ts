import { createHash, randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { BlockPool, copyInto, isPooledBlock, releaseBlock, retainBlock } from '../../src/storage/block-pool.js';
import { isPageAligned } from '../../src/storage/aligned-memory.js';
import { ParallelGzip, Sha256Meter, streamToBuffer } from '../../src/storage/index.js';
import { pooledSource } from '../harness/pooled-source.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('BlockPool', () => {
  it('gives a block back only when its last reference is released, and only for the view handed out', () => {
    const pool = new BlockPool(1024, 4);
    const block = pool.take();
    expect(block.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(block.length).toBe(1024);
    const view = pool.handOut(block, 100);
    expect(view.length).toBe(100);
    expect(isPooledBlock(view)).toBe(true);
    // A slice of it is an ordinary buffer: releasing it does nothing.
    releaseBlock(view.subarray(0, 10));
    expect(isPooledBlock(view)).toBe(true);

    expect(retainBlock(view)).toBe(true);
    releaseBlock(view);
    // One reference left: not back yet, so take() makes a new block.
    expect(pool.take()).not.toBe(block);
    releaseBlock(view);
    expect(isPooledBlock(view)).toBe(false);
    expect(pool.take()).toBe(block);
    expect(pool.reused).toBe(1);
    // A second release of a returned view changes nothing.
    releaseBlock(view);
    expect(retainBlock(Buffer.alloc(8))).toBe(false);
  });

  it('carves its blocks from page-aligned shared memory, each starting on a page boundary', () => {
    const pool = new BlockPool(1000, 3);
    const blocks = [pool.take(), pool.take(), pool.take()];
    for (const b of blocks) {
      expect(b.buffer).toBeInstanceOf(SharedArrayBuffer);
      expect(b.length).toBe(1000);
      expect(isPageAligned(b)).toBe(true);
    }
    // Distinct memory: filling one leaves the others alone.
    blocks[0]!.fill(1);
    blocks[1]!.fill(2);
    expect(blocks[0]!.every((x) => x === 1)).toBe(true);
    expect(isPageAligned(Buffer.from(new SharedArrayBuffer(8192)))).toBe(false);
  });

  it('hands out plain buffers past its cap, which are never pooled', () => {
    const pool = new BlockPool(256, 2);
    const a = pool.take();
    const b = pool.take();
    const c = pool.take();
    expect(pool.blocksMade).toBe(2);
    expect(a.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(b.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(c.buffer).not.toBeInstanceOf(SharedArrayBuffer);
    const v = pool.handOut(c, 256);
    expect(isPooledBlock(v)).toBe(false);
    releaseBlock(v);
    expect(pool.take().buffer).not.toBeInstanceOf(SharedArrayBuffer);
  });

  it('copyInto copies exactly, into shared and plain memory, at any alignment', () => {
    const src = randomBytes(70_000);
    for (const dst of [Buffer.from(new SharedArrayBuffer(80_000)), Buffer.alloc(80_000)]) {
      for (const [d, s, e] of [[0, 0, 70_000], [1, 6, 32_775], [7, 3, 3], [13, 69_999, 70_000]] as const) {
        dst.fill(0);
        copyInto(dst, d, src, s, e);
        expect(dst.subarray(d, d + (e - s)).equals(src.subarray(s, e))).toBe(true);
        expect(dst.subarray(0, d).every((x) => x === 0)).toBe(true);
        expect(dst[d + (e - s)]).toBe(0);
      }
    }
  });
});

describe('pooled blocks through the stages that read them', () => {
  it('the sha256 meter holds a block until hashed, so a consumer that releases at once cannot let it be overwritten', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 4321);
    const pool = new BlockPool(64 * 1024, 6);
    const m = new Sha256Meter();
    const out: Buffer[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _e, cb) {
        out.push(Buffer.from(chunk));
        // The last reader: gives the block back right away, while the thread may still hash it.
        releaseBlock(chunk);
        cb();
      },
    });
    await pipeline(pooledSource(pool, data), m, sink);
    expect(Buffer.concat(out).equals(data)).toBe(true);
    expect(m.sha256).toBe(sha(data));
    expect(m.bytes).toBe(data.length);
    // Blocks came back and were filled again (the point of the pool), never more than its cap.
    expect(pool.reused).toBeGreaterThan(10);
    expect(pool.blocksMade).toBeLessThanOrEqual(6);
  });

  it('a consumer that never releases costs new blocks, not correctness', async () => {
    const data = randomBytes(2 * 1024 * 1024);
    const pool = new BlockPool(64 * 1024, 4);
    const m = new Sha256Meter();
    const [got] = await Promise.all([streamToBuffer(m), pipeline(pooledSource(pool, data), m)]);
    expect(got.equals(data)).toBe(true);
    expect(m.sha256).toBe(sha(data));
    expect(pool.blocksMade).toBe(4);
  });

  it('parallel gzip compresses a pooled block where it is and gives it back once compressed', async () => {
    const data = Buffer.concat([randomBytes(1024 * 1024), Buffer.alloc(2 * 1024 * 1024 + 777, 'a')]);
    const pool = new BlockPool(256 * 1024, 8);
    const z = new ParallelGzip({ blockSize: 256 * 1024 });
    const [gz] = await Promise.all([streamToBuffer(z), pipeline(pooledSource(pool, data), z)]);
    expect(gunzipSync(gz).equals(data)).toBe(true);
    expect(pool.reused).toBeGreaterThan(0);
  });
});
