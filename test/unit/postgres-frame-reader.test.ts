import { randomBytes, randomInt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { PitrdError } from '../../src/errors.js';
import { FrameReader, MAX_MESSAGE_BYTES, RecvSlabPool, type SlabHold } from '../../src/postgres/index.js';

function frame(type: string, body: Buffer): Buffer {
  const h = Buffer.alloc(5);
  h[0] = type.charCodeAt(0);
  h.writeUInt32BE(body.length + 4, 1);
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
function feed(reader: FrameReader, bytes: Buffer, chunkSizes: (i: number) => number): void {
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
  const reader = new FrameReader(
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

describe('FrameReader', () => {
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
    const reader = new FrameReader(
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

  it('reports a length below 4 as POSTGRES_PROTOCOL_VIOLATION instead of parsing garbage', () => {
    const errors: PitrdError[] = [];
    const reader = new FrameReader(
      () => undefined,
      () => undefined,
      (err) => errors.push(err),
    );
    feed(reader, Buffer.from([0x44, 0, 0, 0, 2, 1, 2, 3]), () => 1 << 30);
    expect(errors.length).toBe(1);
    expect(errors[0]!.code).toBe('POSTGRES_PROTOCOL_VIOLATION');
    expect(errors[0]!.context).toMatchObject({ type: 0x44, length: 2 });
  });

  it('refuses a 2 GiB length from its 5-byte header, before any memory is set aside for the body', () => {
    // 2^31 reads negative as an int32; 2^31 − 16 is positive and once made the reader ask for a 2 GiB slab.
    for (const [copying, claimed] of [[false, 2 ** 31], [true, 2 ** 31], [false, 2 ** 31 - 16], [true, 2 ** 31 - 16]] as const) {
      const errors: PitrdError[] = [];
      const forwarded: Buffer[] = [];
      const acquired: number[] = [];
      const pool = new RecvSlabPool(8192, 2);
      const acquire = pool.acquire.bind(pool);
      pool.acquire = (min = 0) => {
        acquired.push(min);
        return acquire(min);
      };
      const reader = new FrameReader(
        (b) => forwarded.push(Buffer.from(b)),
        () => undefined,
        (err) => errors.push(err),
        { pool, minRead: 1024 },
      );
      const before = copying ? frame('W', Buffer.from([0, 0, 0])) : frame('Z', Buffer.from('I'));
      const hostile = Buffer.alloc(5);
      hostile[0] = 0x64; // CopyData claiming ~2 GiB
      hostile.writeUInt32BE(claimed, 1);
      // The header arrives split across reads, with a whole message in front of it.
      feed(reader, Buffer.concat([before, hostile, Buffer.alloc(3000, 0xab)]), (i) => [before.length + 2, 3, 1000][i % 3]!);
      expect(errors.map((e) => e.code)).toEqual(['POSTGRES_PROTOCOL_VIOLATION']);
      expect(errors[0]!.context).toMatchObject({ type: 0x64, length: claimed, max_length: MAX_MESSAGE_BYTES });
      expect(errors[0]!.message).toContain(`claiming ${claimed} bytes`);
      // What came before the bad header still reached pg, whole; nothing was asked of the pool
      // beyond a slab (the claimed length never reached an allocation).
      expect(Buffer.concat(forwarded).equals(before)).toBe(true);
      expect(Math.max(...acquired)).toBeLessThanOrEqual(8192);
    }
  });

  it('takes a limit: one byte over it is refused, the limit itself is read', () => {
    const run = (len: number) => {
      const errors: PitrdError[] = [];
      const forwarded: Buffer[] = [];
      const reader = new FrameReader((b) => forwarded.push(Buffer.from(b)), () => undefined, (err) => errors.push(err), { maxMessage: 1000 });
      feed(reader, frame('D', Buffer.alloc(len - 4, 7)), () => 1 << 30);
      return { errors, forwarded: Buffer.concat(forwarded) };
    };
    expect(run(1000).errors).toEqual([]);
    expect(run(1000).forwarded.length).toBe(1001);
    expect(run(1001).errors.map((e) => e.code)).toEqual(['POSTGRES_PROTOCOL_VIOLATION']);
  });

  it('hands several messages of one read on in order, and a frame split across reads once, whole', () => {
    const copy = [body(10, 1), body(20, 2), body(30, 3)];
    const bytes = Buffer.concat([frame('W', Buffer.from([0, 0, 0])), ...copy.map((c) => frame('d', c)), frame('c', Buffer.alloc(0))]);
    for (const sizes of [() => 1 << 30, () => 1, (i: number) => (i === 0 ? 9 : 13)]) {
      const got: Buffer[] = [];
      const forwarded: Buffer[] = [];
      const reader = new FrameReader((b) => forwarded.push(Buffer.from(b)), (p) => got.push(Buffer.from(p)), (err) => {
        throw err;
      });
      feed(reader, bytes, sizes);
      expect(got).toEqual(copy);
      expect(Buffer.concat(forwarded).equals(Buffer.concat([frame('W', Buffer.from([0, 0, 0])), frame('c', Buffer.alloc(0))]))).toBe(true);
    }
  });

  it("BASE_BACKUP's CopyOutResponse starts copy mode too; any other message ends it (random traffic against a model)", () => {
    const types = ['H', 'd', 'd', 'd', 'd', 'C', 'D', 'T', 'W', 'c', 'Z'];
    const msgs = Array.from({ length: 400 }, (_, i) => ({ type: types[randomInt(types.length)]!, body: randomBytes(i % 50 === 3 ? 70_000 : randomInt(0, 3000)) }));
    // The model: 'd' goes to the copy hook only after 'H' or 'W' with nothing but 'd' since.
    let copying = false;
    const expected = msgs.map((m) => {
      const to = copying && m.type === 'd' ? 'copy' : 'pg';
      if (to === 'pg') copying = m.type === 'H' || m.type === 'W';
      return to;
    });
    const stream = Buffer.concat(msgs.map((m) => frame(m.type, m.body)));
    for (const maxRead of [2, 1000, 65_536]) {
      const order: Array<{ to: 'pg' | 'copy'; m: Buffer }> = [];
      const reader = new FrameReader(
        (frames) => {
          for (let off = 0; off < frames.length; ) {
            const total = 1 + frames.readUInt32BE(off + 1);
            order.push({ to: 'pg', m: Buffer.from(frames.subarray(off, off + total)) });
            off += total;
          }
        },
        (p) => order.push({ to: 'copy', m: frame('d', p) }),
        (err) => {
          throw err;
        },
        { pool: new RecvSlabPool(16_384, 2), minRead: 1024 },
      );
      feed(reader, stream, () => randomInt(1, maxRead + 1));
      expect(order.map((o) => o.to)).toEqual(expected);
      msgs.forEach((m, i) => expect(order[i]!.m.equals(frame(m.type, m.body))).toBe(true));
    }
  });
});
