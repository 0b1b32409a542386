import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip, gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ParallelGzip, createDecompressor, streamToBuffer } from '../../src/storage/index.js';

/** Blocks that compress very differently (so members finish out of order on the threadpool). */
function mixed(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let off = 0; off < n; off += 4096) {
    const len = Math.min(4096, n - off);
    if ((off >> 12) % 3 === 0) randomBytes(len).copy(b, off);
    else b.fill(String.fromCharCode(97 + ((off >> 12) % 26)), off, off + len);
  }
  return b;
}

/** Feed `data` in chunks of `chunk` bytes through a fresh ParallelGzip and collect the output. */
async function compress(data: Buffer, chunk: number, opts: ConstructorParameters<typeof ParallelGzip>[0] = {}): Promise<{ out: Buffer; z: ParallelGzip }> {
  const parts: Buffer[] = [];
  for (let off = 0; off < data.length; off += chunk) parts.push(data.subarray(off, off + chunk));
  const z = new ParallelGzip(opts);
  const out = streamToBuffer(z);
  await pipeline(Readable.from(parts), z);
  return { out: await out, z };
}

async function gunzipStream(data: Buffer): Promise<Buffer> {
  const d = createDecompressor({ compression: 'gzip' });
  const out = streamToBuffer(d);
  await pipeline(Readable.from([data]), d);
  return out;
}

/** Number of gzip members: count member headers by walking gunzip member by member is not
 * exposed by zlib, so count the magic+method+flags prefix our members start with. */
function memberCount(gz: Buffer): number {
  let n = 0;
  for (let i = gz.indexOf(Buffer.from([0x1f, 0x8b, 0x08])); i !== -1; i = gz.indexOf(Buffer.from([0x1f, 0x8b, 0x08]), i + 1)) n++;
  return n;
}

describe('ParallelGzip (multi-member gzip compressed on the threadpool)', () => {
  it('round-trips through Node gunzip and keeps block order, for chunk sizes across block edges', async () => {
    const data = mixed(5 * 64 * 1024 + 12345);
    for (const chunk of [1000, 64 * 1024, 64 * 1024 + 1, 300 * 1024, data.length]) {
      const { out } = await compress(data, chunk, { blockSize: 64 * 1024, window: 3 });
      expect(memberCount(out)).toBeGreaterThanOrEqual(6);
      expect((await gunzipStream(out)).equals(data)).toBe(true);
      expect(gunzipSync(out).equals(data)).toBe(true);
    }
  });

  it('is read by `gzip -d` as one stream', async () => {
    const data = mixed(3 * 1024 * 1024 + 7);
    const { out } = await compress(data, 256 * 1024, { blockSize: 512 * 1024 });
    const plain = execFileSync('gzip', ['-d', '-c'], { input: out, maxBuffer: 64 * 1024 * 1024 });
    expect(plain.equals(data)).toBe(true);
  });

  it('writes a valid gzip file for empty input, and the single-stream format still decodes', async () => {
    const { out } = await compress(Buffer.alloc(0), 1);
    expect(out.length).toBeGreaterThan(0);
    expect((await gunzipStream(out)).length).toBe(0);
    // Objects written by the former single-member compressor.
    const data = mixed(200_000);
    const old = await streamToBuffer(Readable.from([data]).pipe(createGzip({ level: 6 })));
    expect((await gunzipStream(old)).equals(data)).toBe(true);
  });

  it('compresses at the level it is given', async () => {
    const data = mixed(2 * 1024 * 1024);
    const fast = (await compress(data, 128 * 1024, { level: 1 })).out;
    const six = (await compress(data, 128 * 1024, { level: 6 })).out;
    const stored = (await compress(data, 128 * 1024, { level: 0 })).out;
    expect(six.length).toBeLessThan(fast.length);
    expect(stored.length).toBeGreaterThan(data.length);
    expect(() => new ParallelGzip({ level: 10 })).toThrow(RangeError);
  });

  it('bounds memory: never more than `window` members in flight, and stops taking input when the reader stalls', async () => {
    const window = 2;
    const blockSize = 32 * 1024;
    const z = new ParallelGzip({ blockSize, window });
    const data = mixed(40 * blockSize);
    // Nobody reads: the writable side must stop accepting at about window blocks (+ highWaterMark).
    let accepted = 0;
    for (let off = 0; off < data.length; off += blockSize) {
      const ok = z.write(data.subarray(off, off + blockSize));
      accepted += blockSize;
      if (!ok) break;
    }
    await new Promise((r) => setTimeout(r, 200));
    expect(z.inFlight).toBeLessThanOrEqual(window);
    expect(accepted).toBeLessThan(data.length);
    // Now drain with a slow reader and write the rest honouring backpressure.
    const got: Buffer[] = [];
    const slow = new Writable({
      highWaterMark: 1,
      write(c: Buffer, _e, cb) {
        got.push(c);
        setTimeout(cb, 1);
      },
    });
    const done = pipeline(z, slow);
    for (let off = accepted; off < data.length; off += blockSize) {
      if (!z.write(data.subarray(off, off + blockSize))) await new Promise((r) => z.once('drain', r));
      expect(z.inFlight).toBeLessThanOrEqual(window);
    }
    z.end();
    await done;
    expect(z.peakInFlight).toBeLessThanOrEqual(window);
    expect(gunzipSync(Buffer.concat(got)).equals(data)).toBe(true);
  });

  it('fails the stream, not the process, when destroyed midway', async () => {
    const z = new ParallelGzip({ blockSize: 16 * 1024 });
    const err = new Error('reader went away');
    const failed = new Promise<Error>((r) => z.on('error', r));
    z.write(mixed(100 * 1024));
    z.destroy(err);
    expect(await failed).toBe(err);
    // Members still on the threadpool finish into nothing.
    await new Promise((r) => setTimeout(r, 100));
    expect(z.inFlight).toBe(0);
  });
});
