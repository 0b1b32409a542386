/** Test producer of pooled blocks (src/storage/block-pool.ts), shaped like the base-backup reader. */
import { Readable } from 'node:stream';
import { BlockPool, copyInto } from '../../src/storage/block-pool.js';

/** Fills pooled blocks from `data` and hands each on once. */
export function pooledSource(pool: BlockPool, data: Buffer): Readable {
  let off = 0;
  return new Readable({
    read() {
      if (off >= data.length) {
        this.push(null);
        return;
      }
      const block = pool.take();
      const n = Math.min(block.length, data.length - off);
      copyInto(block, 0, data, off, off + n);
      off += n;
      this.push(pool.handOut(block, n));
    },
  });
}
