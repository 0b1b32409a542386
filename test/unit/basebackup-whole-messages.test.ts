import { randomBytes, randomInt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { PitrdError } from '../../src/errors.js';
import { WholeMessages } from '../../src/basebackup/whole-messages.js';

function message(type: string, body: Buffer): Buffer {
  const m = Buffer.alloc(5 + body.length);
  m.write(type, 0, 'latin1');
  m.writeUInt32BE(4 + body.length, 1);
  body.copy(m, 5);
  return m;
}

/** Split a buffer of messages back into messages; throws when it does not end on a boundary. */
function split(b: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  while (off < b.length) {
    expect(b.length - off).toBeGreaterThanOrEqual(5);
    const total = 1 + b.readUInt32BE(off + 1);
    expect(off + total).toBeLessThanOrEqual(b.length);
    out.push(b.subarray(off, off + total));
    off += total;
  }
  return out;
}

describe('WholeMessages (protocol bytes cut on message boundaries)', () => {
  it('hands on whole messages only, in order, whatever the read boundaries', () => {
    const msgs = Array.from({ length: 300 }, (_, i) => message(i % 7 === 0 ? 'D' : 'd', randomBytes(i % 11 === 0 ? 0 : i % 100 === 1 ? 100_000 : randomInt(1, 4000))));
    const stream = Buffer.concat(msgs);
    for (const maxRead of [1, 3, 5, 6, 4096, 65_536, 262_144]) {
      const got: Buffer[] = [];
      // The reader reuses one buffer: emitted bytes must be consumed before the next read.
      const reused = Buffer.alloc(maxRead);
      const w = new WholeMessages((whole) => got.push(...split(whole).map((m) => Buffer.from(m))));
      for (let off = 0; off < stream.length; ) {
        const n = Math.min(maxRead === 1 ? 1 : randomInt(1, maxRead + 1), stream.length - off);
        stream.copy(reused, 0, off, off + n);
        w.push(reused.subarray(0, n));
        reused.fill(0xee); // what a reused read buffer would do to bytes still referenced
        off += n;
      }
      expect(w.idle).toBe(true);
      expect(got.length).toBe(msgs.length);
      for (let i = 0; i < msgs.length; i++) expect(got[i]!.equals(msgs[i]!)).toBe(true);
    }
  });

  it('passes runs of complete messages as one view without copying', () => {
    const read = Buffer.concat([message('d', Buffer.from('a')), message('d', Buffer.from('bc')), message('d', Buffer.from('def')).subarray(0, 4)]);
    const seen: Buffer[] = [];
    const w = new WholeMessages((m) => seen.push(m));
    w.push(read);
    expect(seen.length).toBe(1);
    expect(seen[0]!.buffer).toBe(read.buffer);
    expect(split(seen[0]!).length).toBe(2);
    expect(w.idle).toBe(false);
  });

  it('routes CopyData to its hook and everything else to pg, keeping the stream order', () => {
    const msgs = Array.from({ length: 200 }, (_, i) => message(i % 5 === 0 ? 'H' : i % 13 === 0 ? 'C' : 'd', randomBytes(i % 50 === 3 ? 70_000 : randomInt(0, 3000))));
    const stream = Buffer.concat(msgs);
    for (const maxRead of [2, 1000, 65_536]) {
      const order: Array<{ to: 'pg' | 'copy'; m: Buffer }> = [];
      const reused = Buffer.alloc(maxRead);
      const w = new WholeMessages(
        (whole) => {
          for (const m of split(whole)) {
            expect(m[0]).not.toBe(0x64);
            order.push({ to: 'pg', m: Buffer.from(m) });
          }
        },
        (m) => {
          expect(split(m).length).toBe(1);
          order.push({ to: 'copy', m: Buffer.from(m) });
        },
      );
      for (let off = 0; off < stream.length; ) {
        const n = Math.min(randomInt(1, maxRead + 1), stream.length - off);
        stream.copy(reused, 0, off, off + n);
        w.push(reused.subarray(0, n));
        reused.fill(0xee);
        off += n;
      }
      expect(order.length).toBe(msgs.length);
      for (let i = 0; i < msgs.length; i++) {
        expect(order[i]!.to).toBe(msgs[i]![0] === 0x64 ? 'copy' : 'pg');
        expect(order[i]!.m.equals(msgs[i]!)).toBe(true);
      }
    }
  });

  it('refuses an impossible message length', () => {
    const bad = Buffer.from([0x64, 0, 0, 0, 2, 0, 0]);
    const w = new WholeMessages(() => undefined);
    let err: unknown;
    try {
      w.push(bad);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PitrdError);
    expect((err as PitrdError).code).toBe('REPLICATION_ERROR');
  });
});
