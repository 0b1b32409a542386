import { describe, expect, it } from 'vitest';
import { SlabPool } from '../../src/receiver/slab-pool.js';

describe('SlabPool', () => {
  it('copies bytes, so the source can be reused at once', () => {
    const pool = new SlabPool(64);
    const src = Buffer.from('abcdefgh');
    const { data } = pool.copy(src, 2, 6);
    src.fill(0);
    expect(data.toString()).toBe('cdef');
  });

  it('never hands out space of a slab whose chunks are still unwritten', () => {
    const pool = new SlabPool(16, 4);
    const live: Array<{ data: Buffer; ref: { release(): void }; v: number }> = [];
    for (let v = 0; v < 200; v++) {
      const c = pool.copy(Buffer.alloc(5, v), 0, 5);
      live.push({ ...c, v });
      // Release in order, lagging behind, like the writer does.
      if (live.length > 7) live.shift()!.ref.release();
      for (const l of live) expect(l.data.every((b) => b === l.v)).toBe(true);
    }
  });

  it('gives larger-than-slab copies their own buffer', () => {
    const pool = new SlabPool(8);
    const { data } = pool.copy(Buffer.alloc(20, 3), 0, 20);
    expect(data.length).toBe(20);
  });
});
