import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { PitrdError } from '../../src/errors.js';
import { Sha256Meter, streamToBuffer } from '../../src/storage/index.js';
import { ThreadedSha256 } from '../../src/storage/transform/hash-thread.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function shared(b: Buffer): Buffer {
  const s = Buffer.from(new SharedArrayBuffer(b.length));
  b.copy(s);
  return s;
}

/** Run `data` through a meter in chunks (plain or shared memory), returning output and meter. */
async function meter(data: Buffer, chunk: number, opts: { shared?: boolean; expect?: string; minOffThread?: number } = {}): Promise<{ out: Buffer; m: Sha256Meter }> {
  const parts: Buffer[] = [];
  for (let off = 0; off < data.length; off += chunk) {
    const p = data.subarray(off, off + chunk);
    parts.push(opts.shared ? shared(p) : Buffer.from(p));
  }
  const m = new Sha256Meter(opts.expect === undefined ? undefined : { sha256: opts.expect, key: 'k/obj' }, opts.minOffThread);
  const [out] = await Promise.all([streamToBuffer(m), pipeline(Readable.from(parts), m)]);
  return { out, m };
}

describe('Sha256Meter with the sha256 helper thread', () => {
  it('gives the same digest and bytes on and off the thread, for chunks of any size and any backing memory', async () => {
    const data = randomBytes(9 * 1024 * 1024 + 333);
    for (const [chunk, isShared] of [[1 << 20, true], [100_000, false], [3 << 20, true], [7, false]] as const) {
      if (chunk === 7) {
        // Tiny chunks: exercise the slab copy path byte by byte across slab edges (smaller input).
        const small = data.subarray(0, 300_000);
        const { out, m } = await meter(small, chunk, { minOffThread: 1000 });
        expect(m.sha256).toBe(sha(small));
        expect(out.equals(small)).toBe(true);
        continue;
      }
      const { out, m } = await meter(data, chunk, { shared: isShared });
      expect(m.sha256).toBe(sha(data));
      expect(m.bytes).toBe(data.length);
      expect(out.equals(data)).toBe(true);
    }
    // Shared and plain chunks interleaved in one stream keep their order.
    const parts = [shared(data.subarray(0, 3 << 20)), Buffer.from(data.subarray(3 << 20, 4 << 20)), shared(data.subarray(4 << 20))];
    const m = new Sha256Meter();
    await Promise.all([streamToBuffer(m), pipeline(Readable.from(parts), m)]);
    expect(m.sha256).toBe(sha(data));
  });

  it('small objects stay on the calling thread, and empty input hashes as empty', async () => {
    const { m } = await meter(Buffer.from('hello'), 2);
    expect(m.sha256).toBe(sha(Buffer.from('hello')));
    const e = await meter(Buffer.alloc(0), 1);
    expect(e.m.sha256).toBe(sha(Buffer.alloc(0)));
  });

  it('fails with CHECKSUM_MISMATCH at the end when verifying a large stream with the wrong digest', async () => {
    const data = randomBytes(5 * 1024 * 1024);
    const err = await meter(data, 1 << 20, { shared: true, expect: sha(Buffer.from('other')) }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PitrdError);
    expect((err as PitrdError).code).toBe('CHECKSUM_MISMATCH');
    const ok = await meter(data, 1 << 20, { expect: sha(data).toUpperCase() });
    expect(ok.m.sha256).toBe(sha(data));
  });

  it('bounds what waits for the thread: update takes no more once every slab is lent', async () => {
    const t = new ThreadedSha256(64 * 1024, 2);
    const big = randomBytes(1024 * 1024);
    // Two slabs of 64 KiB: at most 128 KiB can be taken before the worker hands one back.
    const taken = t.update(big);
    expect(taken).toBeLessThanOrEqual(2 * 64 * 1024);
    let off = taken;
    while (off < big.length) {
      await new Promise<void>((r) => t.whenFree(r));
      off += t.update(big.subarray(off));
    }
    const hex = await new Promise<string>((res, rej) => t.digest((e, h) => (e ? rej(e) : res(h!))));
    expect(hex).toBe(sha(big));
  });

  it('a destroyed meter releases its hash and the process keeps no worker reference', async () => {
    const m = new Sha256Meter();
    const sink = new Writable({ write: (_c, _e, cb) => cb() });
    const failed = new Promise<Error>((r) => m.on('error', r));
    m.pipe(sink);
    m.write(shared(randomBytes(3 * 1024 * 1024)));
    m.destroy(new Error('stop'));
    expect((await failed).message).toBe('stop');
    // A later meter still works (the shared worker is unaffected).
    const data = randomBytes(4 * 1024 * 1024);
    const { m: m2 } = await meter(data, 1 << 20, { shared: true });
    expect(m2.sha256).toBe(sha(data));
  });
});
