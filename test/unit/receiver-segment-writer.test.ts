import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SegmentWriter } from '../../src/receiver/segment-writer.js';
import { scanSpool } from '../../src/receiver/spool.js';

const SEG = 1024 * 1024;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'pitrd-segw-'));
  dirs.push(dir);
  const completed: string[] = [];
  const flushes: bigint[] = [];
  const w = new SegmentWriter({ dir, segSize: SEG, onSegmentComplete: (_t, name) => completed.push(name), onFlushed: (l) => flushes.push(l) });
  return { dir, w, completed, flushes };
}

function pattern(start: number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (start + i) % 251;
  return b;
}

describe('SegmentWriter', () => {
  it('assembles messages across segment boundaries into complete segments and a partial', async () => {
    const { dir, w, completed, flushes } = setup();
    const start = 5n * BigInt(SEG);
    w.begin(1, start);
    const total = 2 * SEG + 1000;
    const chunk = 100_000; // does not divide the segment size: messages straddle boundaries
    for (let off = 0; off < total; off += chunk) {
      const n = Math.min(chunk, total - off);
      const data = pattern(off, n);
      w.append(start + BigInt(off), data);
      data.fill(0); // pg reuses its buffer: the writer must have copied
    }
    await w.flush();
    expect(completed).toEqual(['000000010000000000000005', '000000010000000000000006']);
    expect(w.flushedLsn).toBe(start + BigInt(total));
    expect(flushes[flushes.length - 1]).toBe(start + BigInt(total));
    expect(readFileSync(join(dir, '000000010000000000000005')).equals(pattern(0, SEG))).toBe(true);
    expect(readFileSync(join(dir, '000000010000000000000006')).equals(pattern(SEG, SEG))).toBe(true);
    expect(readFileSync(join(dir, '000000010000000000000007.partial')).equals(pattern(2 * SEG, 1000))).toBe(true);
    await w.close();
    expect((await scanSpool(dir)).partials).toEqual([{ timeline: 1, name: '000000010000000000000007' }]);
  });

  it('rejects a message that does not continue the stream (REPLICATION_ERROR)', () => {
    const { w } = setup();
    w.begin(1, 0n);
    w.append(0n, Buffer.alloc(10));
    expect(() => w.append(20n, Buffer.alloc(10))).toThrow(/starts at 0\/14 but the stream so far ends at 0\/A/);
  });

  it('overwrites a leftover partial from its start and drops it at a timeline end on request', async () => {
    const { dir, w } = setup();
    writeFileSync(join(dir, '000000010000000000000002.partial'), Buffer.alloc(5000, 7));
    w.begin(1, 2n * BigInt(SEG));
    w.append(2n * BigInt(SEG), pattern(0, 300));
    await w.flush();
    expect(readFileSync(join(dir, '000000010000000000000002.partial')).equals(pattern(0, 300))).toBe(true);
    await w.close(true);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('refuses to start inside a segment', () => {
    const { w } = setup();
    expect(() => w.begin(1, 123n)).toThrow(/segment boundary/);
  });

  it('paces fsyncs: the flush position waits for the fsync, a segment end makes it durable at once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pitrd-segw-'));
    dirs.push(dir);
    const flushes: bigint[] = [];
    const w = new SegmentWriter({ dir, segSize: SEG, fsyncIntervalMs: 60_000, onSegmentComplete: () => undefined, onFlushed: (l) => flushes.push(l) });
    w.begin(1, 0n);
    w.append(0n, pattern(0, 1000));
    // The first batch syncs at once (nothing synced yet: the interval has passed since "never").
    // Wait for that fsync however long a busy disk takes; later batches wait for the interval.
    for (let i = 0; i < 400 && w.flushedLsn < 1000n; i++) await new Promise((r) => setTimeout(r, 25));
    expect(w.flushedLsn).toBe(1000n);
    const afterFirst = w.flushedLsn;
    w.append(1000n, pattern(1000, 1000));
    await new Promise((r) => setTimeout(r, 50));
    expect(w.flushedLsn).toBe(afterFirst);
    expect(w.receivedLsn).toBe(2000n);
    w.append(2000n, pattern(2000, SEG - 2000));
    for (let i = 0; i < 200 && w.flushedLsn < BigInt(SEG); i++) await new Promise((r) => setTimeout(r, 25));
    expect(w.flushedLsn).toBe(BigInt(SEG));
    w.append(BigInt(SEG), pattern(0, 10));
    await w.flush();
    expect(w.flushedLsn).toBe(BigInt(SEG) + 10n);
    expect(flushes[flushes.length - 1]).toBe(BigInt(SEG) + 10n);
    await w.close();
  });

  it('moves the flush position in order, only over segments already complete under their final name', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pitrd-segw-'));
    dirs.push(dir);
    const seen: Array<{ lsn: bigint; files: string[] }> = [];
    const completed: string[] = [];
    const w = new SegmentWriter({
      dir,
      segSize: SEG,
      fsyncIntervalMs: 5,
      onSegmentComplete: (_t, name) => completed.push(name),
      onFlushed: (l) => seen.push({ lsn: l, files: readdirSync(dir).sort() }),
    });
    w.begin(1, 0n);
    const total = 6 * SEG + 777;
    for (let off = 0; off < total; off += 131_000) w.append(BigInt(off), pattern(off, Math.min(131_000, total - off)));
    await w.flush();
    expect(w.flushedLsn).toBe(BigInt(total));
    expect(completed).toEqual([1, 2, 3, 4, 5, 6].map((n) => `00000001000000000000000${n - 1}`));
    for (let i = 0; i < seen.length; i++) {
      if (i > 0) expect(seen[i]!.lsn).toBeGreaterThan(seen[i - 1]!.lsn);
      const fullSegments = Number(seen[i]!.lsn / BigInt(SEG));
      for (let n = 0; n < fullSegments; n++) expect(seen[i]!.files).toContain(`00000001000000000000000${n}`);
    }
    for (let n = 0; n < 6; n++) expect(readFileSync(join(dir, `00000001000000000000000${n}`)).equals(pattern(n * SEG, SEG))).toBe(true);
    await w.close();
  });

  it("hands each complete segment on with the sha256 of the bytes it wrote to the file", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pitrd-segw-'));
    dirs.push(dir);
    const sums = new Map<string, string | null>();
    const w = new SegmentWriter({ dir, segSize: SEG, fsyncIntervalMs: 5, onSegmentComplete: (_t, name, _end, sha256) => sums.set(name, sha256), onFlushed: () => undefined });
    w.begin(1, 3n * BigInt(SEG));
    const total = 2 * SEG + 4096;
    // Uneven messages, some straddling a boundary, from pg's buffer (copied) and from slabs (views).
    const hold = { retain: () => undefined, release: () => undefined };
    for (let off = 0, i = 0; off < total; i++) {
      const n = Math.min(total - off, 1000 + ((i * 7919) % 200_000));
      w.append(3n * BigInt(SEG) + BigInt(off), pattern(off, n), i % 2 === 0 ? hold : null);
      off += n;
    }
    await w.flush();
    await w.close();
    expect([...sums.keys()]).toEqual(['000000010000000000000003', '000000010000000000000004']);
    for (const [name, sum] of sums) expect(sum).toBe(createHash('sha256').update(readFileSync(join(dir, name))).digest('hex'));
    // On an fs repository a complete segment becomes the archived object by a hard link: it must
    // carry the mode every other object gets (umask default), or a restore_command run as another
    // OS user could read every object but these.
    const ordinary = join(dir, 'ordinary');
    writeFileSync(ordinary, 'x');
    for (const name of sums.keys()) expect(statSync(join(dir, name)).mode & 0o777).toBe(statSync(ordinary).mode & 0o777);
  });

  it('writes receive-slab views without copying and releases each hold once written', async () => {
    const { dir, w } = setup();
    let holds = 0;
    let releases = 0;
    const slab = Buffer.alloc(3 * SEG);
    for (let i = 0; i < slab.length; i++) slab[i] = i % 251;
    const hold = { retain: () => void holds++, release: () => void releases++ };
    w.begin(1, 0n);
    // One message straddling the first segment boundary: two queued pieces, two holds.
    w.append(0n, slab.subarray(0, SEG - 10), hold);
    w.append(BigInt(SEG - 10), slab.subarray(SEG - 10, SEG + 500), hold);
    await w.flush();
    expect(holds).toBe(3);
    expect(releases).toBe(3);
    expect(readFileSync(join(dir, '000000010000000000000000')).equals(pattern(0, SEG))).toBe(true);
    expect(readFileSync(join(dir, '000000010000000000000001.partial')).equals(pattern(SEG, 500))).toBe(true);
    await w.close();
  });
});
