import { describe, expect, it } from 'vitest';
import { CopyBothReader } from '../../src/receiver/protocol/copy-tap.js';
import { RecvSlabPool, type SlabHold } from '../../src/receiver/protocol/recv-slabs.js';

function frame(type: string, body: Buffer): Buffer {
  const h = Buffer.alloc(5);
  h[0] = type.charCodeAt(0);
  h.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([h, body]);
}

const body = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + seed) % 256));

/** Backend traffic around a CopyBoth stream, as pg would see it without the reader. */
function traffic(): { bytes: Buffer; before: Buffer; copy: Buffer[]; after: Buffer } {
  // A DataRow larger than a test slab: frames owed to pg must arrive whole too.
  const before = Buffer.concat([frame('T', body(30, 1)), frame('D', body(9000, 2)), frame('C', body(8, 3)), frame('Z', Buffer.from('I')), frame('W', Buffer.from([0, 0, 0]))]);
  const copy = [body(1000, 4), body(0, 0), body(70_000, 5), body(3, 6), body(131_097, 7), ...Array.from({ length: 40 }, (_, i) => body(100 + i * 37, 20 + i))];
  const after = Buffer.concat([frame('c', Buffer.alloc(0)), frame('T', body(40, 8)), frame('D', body(12, 9)), frame('C', body(16, 10)), frame('Z', Buffer.from('I')), frame('W', Buffer.from([0, 0, 0]))]);
  const bytes = Buffer.concat([before, ...copy.map((c) => frame('d', c)), after, frame('d', body(500, 11)), frame('E', body(50, 12))]);
  return { bytes, before, copy, after };
}

/** Feed `bytes` the way the socket does: each read fills at most the buffer the reader offers. */
function feed(reader: CopyBothReader, bytes: Buffer, chunkSizes: (i: number) => number): void {
  let pos = 0;
  for (let i = 0; pos < bytes.length; i++) {
    const into = reader.nextBuffer();
    const n = Math.min(Math.max(1, chunkSizes(i)), into.length, bytes.length - pos);
    bytes.copy(into, 0, pos, pos + n);
    reader.onRead(n);
    pos += n;
  }
}

function run(chunkSizes: (i: number) => number, pool?: RecvSlabPool) {
  const { bytes, before, copy, after } = traffic();
  const forwarded: Buffer[] = [];
  const payloads: Buffer[] = [];
  const reader = new CopyBothReader(
    (b) => forwarded.push(Buffer.from(b)),
    (p) => payloads.push(Buffer.from(p)),
    (err) => {
      throw err;
    },
    pool ? { pool, minRead: 1024 } : {},
  );
  feed(reader, bytes, chunkSizes);
  return { forwarded: Buffer.concat(forwarded), payloads, expectedForward: Buffer.concat([before, after, frame('E', body(50, 12))]), copy };
}

describe('CopyBothReader', () => {
  for (const [name, sizes] of [
    ['one chunk', () => 1 << 30],
    ['64 KiB chunks', () => 65536],
    ['1-byte chunks', () => 1],
    ['odd chunks', (i: number) => [1, 2, 3, 4, 5, 7, 4093, 65536, 17][i % 9]!],
  ] as const) {
    for (const slabs of ['default slabs', 'small slabs'] as const) {
      it(`hands CopyData payloads to us and everything else to pg (${name}, ${slabs})`, () => {
        const r = run(sizes, slabs === 'small slabs' ? new RecvSlabPool(4096, 2) : undefined);
        expect(r.forwarded.equals(r.expectedForward)).toBe(true);
        expect(r.payloads.length).toBe(r.copy.length + 1);
        r.copy.forEach((c, i) => expect(r.payloads[i]!.equals(c)).toBe(true));
        expect(r.payloads[r.copy.length]!.equals(body(500, 11))).toBe(true);
      });
    }
  }

  it('never reuses memory of a retained payload until it is released', () => {
    const held: Array<{ view: Buffer; copy: Buffer; slab: SlabHold }> = [];
    const reader = new CopyBothReader(
      () => undefined,
      (p, slab) => {
        slab.retain();
        held.push({ view: p, copy: Buffer.from(p), slab });
      },
      (err) => {
        throw err;
      },
      { pool: new RecvSlabPool(8192, 2), minRead: 1024 },
    );
    feed(reader, frame('W', Buffer.from([0, 0, 0])), () => 1 << 30);
    for (let round = 0; round < 300; round++) {
      const payloads = Array.from({ length: 3 }, (_, i) => body(200 + ((round * 131 + i * 17) % 3000), round + i));
      feed(reader, Buffer.concat(payloads.map((p) => frame('d', p))), (i) => [700, 5, 3000, 64, 1][i % 5]!);
      // Release in order, lagging behind, like the segment writer does.
      while (held.length > 7) held.shift()!.slab.release();
      for (const h of held) expect(h.view.equals(h.copy)).toBe(true);
    }
  });

  it('reports a malformed length instead of parsing garbage', () => {
    const errors: Error[] = [];
    const reader = new CopyBothReader(
      () => undefined,
      () => undefined,
      (err) => errors.push(err),
    );
    const bad = Buffer.from([0x44, 0, 0, 0, 2, 1, 2, 3]);
    feed(reader, bad, () => 1 << 30);
    expect(errors[0]?.message).toMatch(/malformed message from the server: type 0x44 with length 2/);
  });
});
