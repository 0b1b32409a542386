import { describe, expect, it } from 'vitest';
import { CopyBothTap } from '../../src/receiver/protocol/copy-tap.js';

function frame(type: string, body: Buffer): Buffer {
  const h = Buffer.alloc(5);
  h[0] = type.charCodeAt(0);
  h.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([h, body]);
}

const body = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + seed) % 256));

/** Backend traffic around a CopyBoth stream, as pg would see it without the tap. */
function traffic(): { bytes: Buffer; before: Buffer; copy: Buffer[]; after: Buffer } {
  const before = Buffer.concat([frame('T', body(30, 1)), frame('D', body(20, 2)), frame('C', body(8, 3)), frame('Z', Buffer.from('I')), frame('W', Buffer.from([0, 0, 0]))]);
  const copy = [body(1000, 4), body(0, 0), body(70_000, 5), body(3, 6), body(131_097, 7)];
  const after = Buffer.concat([frame('c', Buffer.alloc(0)), frame('T', body(40, 8)), frame('D', body(12, 9)), frame('C', body(16, 10)), frame('Z', Buffer.from('I')), frame('W', Buffer.from([0, 0, 0]))]);
  const bytes = Buffer.concat([before, ...copy.map((c) => frame('d', c)), after, frame('d', body(500, 11)), frame('E', body(50, 12))]);
  return { bytes, before, copy, after };
}

function run(chunkSizes: (i: number) => number) {
  const { bytes, before, copy, after } = traffic();
  const forwarded: Buffer[] = [];
  const payloads: Buffer[] = [];
  const tap = new CopyBothTap(
    (b) => forwarded.push(Buffer.from(b)),
    (p) => payloads.push(Buffer.from(p)),
  );
  let pos = 0;
  for (let i = 0; pos < bytes.length; i++) {
    const n = Math.max(1, chunkSizes(i));
    tap.push(bytes.subarray(pos, pos + n));
    pos += n;
  }
  return { forwarded: Buffer.concat(forwarded), payloads, expectedForward: Buffer.concat([before, after, frame('E', body(50, 12))]), copy };
}

describe('CopyBothTap', () => {
  for (const [name, sizes] of [
    ['one chunk', () => 1 << 30],
    ['64 KiB chunks', () => 65536],
    ['1-byte chunks', () => 1],
    ['odd chunks', (i: number) => [1, 2, 3, 4, 5, 7, 4093, 65536, 17][i % 9]!],
  ] as const) {
    it(`hands CopyData payloads to us and everything else to pg (${name})`, () => {
      const r = run(sizes);
      expect(r.forwarded.equals(r.expectedForward)).toBe(true);
      expect(r.payloads.length).toBe(r.copy.length + 1);
      r.copy.forEach((c, i) => expect(r.payloads[i]!.equals(c)).toBe(true));
      expect(r.payloads[r.copy.length]!.equals(body(500, 11))).toBe(true);
    });
  }
});
