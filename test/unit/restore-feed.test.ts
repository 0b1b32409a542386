/**
 * feedChild: a child that stops reading early (as tar does after the end-of-archive marker) does
 * not fail the copy, and the source is still read to its end (its checksum check runs); a source
 * error rejects.
 */
import { Readable } from 'node:stream';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { feedChild } from '../../src/restore/feed.js';

function source(chunks: number, size = 64 * 1024, failAt?: number): { stream: Readable; read: () => number } {
  let i = 0;
  let read = 0;
  const stream = new Readable({
    read() {
      if (i === failAt) return this.destroy(new Error('checksum mismatch'));
      if (i++ === chunks) return this.push(null);
      read += size;
      this.push(Buffer.alloc(size, 7));
    },
  });
  return { stream, read: () => read };
}

describe('feedChild', () => {
  it('feeds a child that reads everything', async () => {
    const child = execa('wc', ['-c'], { stdin: 'pipe' });
    const s = source(40);
    expect(await feedChild(s.stream, child.stdin!)).toEqual({ stdinClosedEarly: false });
    expect(String((await child).stdout).trim()).toBe(String(40 * 64 * 1024));
  });

  it('drains the rest of the source when the child stops reading early', async () => {
    const child = execa('head', ['-c', '1000'], { stdin: 'pipe', reject: false });
    const s = source(400);
    const r = await feedChild(s.stream, child.stdin!);
    expect(r.stdinClosedEarly).toBe(true);
    expect(s.read()).toBe(400 * 64 * 1024);
    expect((await child).exitCode).toBe(0);
  });

  it('rejects with the source error', async () => {
    const child = execa('cat', [], { stdin: 'pipe', stdout: 'ignore', reject: false });
    await expect(feedChild(source(40, 1024, 5).stream, child.stdin!)).rejects.toThrow('checksum mismatch');
    await child;
  });
});
