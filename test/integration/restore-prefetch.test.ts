/**
 * The prefetching restore_command end to end, without a server: a real fs repository holding WAL
 * segments, the Prefetcher staging them (parallel downloads, bounded depth) and the real
 * restore_command script run the way PostgreSQL runs it (`sh -c`), asked for the segments in
 * replay order. Every segment must arrive byte-identical exactly once; requests for files the
 * prefetch does not hold are answered (a history file, a segment archived later, a missing
 * file); a corrupt stored segment fails restore_command loudly instead of handing it over.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRepository, type DatabaseRepository, type StoredWalSegment } from '../../src/repository/index.js';
import { Prefetcher } from '../../src/restore/index.js';
import { restoreCommandScript } from '../../src/restore/prefetch.js';
import { createObjectStore, type ObjectStore } from '../../src/storage/index.js';
import { makeTempDir } from '../harness/index.js';

const SEG = 1024 * 1024;
const COUNT = 12;
let store: ObjectStore;
let db: DatabaseRepository;
let repoDir = '';
const dirs: string[] = [];
const names: string[] = [];
const data = new Map<string, Buffer>();

const segName = (tli: number, n: number) => `${tli.toString(16).toUpperCase().padStart(8, '0')}00000000${n.toString(16).toUpperCase().padStart(8, '0')}`;

/** WAL-like content: partly random (so every segment differs), partly compressible. */
function segmentBytes(): Buffer {
  const b = Buffer.alloc(SEG);
  for (let o = 0; o < SEG; o += 8192) randomBytes(1024).copy(b, o);
  return b;
}

beforeAll(async () => {
  repoDir = makeTempDir('pf-repo');
  dirs.push(repoDir);
  store = createObjectStore({ type: 'fs', path: repoDir });
  // Uncompressed: a test damages a stored segment in place.
  const repo = await openRepository(store, { compression: 'none' });
  db = repo.database({ project: 'default', name: 'main' });
  for (let n = 1; n <= COUNT; n++) {
    const name = segName(1, n);
    const bytes = segmentBytes();
    await db.wal.putSegment(1, name, bytes);
    names.push(name);
    data.set(name, bytes);
  }
  await db.wal.putHistory(2, Buffer.from('1\t0/5000000\tno recovery target specified\n'));
});

afterAll(async () => {
  await store?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function listed(): Promise<StoredWalSegment[]> {
  const out: StoredWalSegment[] = [];
  for await (const s of db.wal.listSegments(1)) out.push(s);
  return out;
}

/** A staging area, its restore_command script and a destination directory (like pg_wal). */
function setup(tag: string) {
  const work = makeTempDir(`pf-${tag}`);
  dirs.push(work);
  const stage = join(work, 'stage');
  const dest = join(work, 'pg_wal');
  const applied = join(work, 'applied.log');
  const script = join(work, 'restore_command.sh');
  // Owned by whoever runs the test: the script and the prefetcher both run as this user here.
  for (const d of [stage, dest]) mkdirSync(d);
  writeFileSync(applied, '');
  writeFileSync(script, restoreCommandScript(stage, applied), { mode: 0o755 });
  /** restore_command as PostgreSQL runs it: through sh -c, %f and %p substituted. */
  const restore = (file: string) => execa('sh', ['-c', `'${script}' '${file}' '${join(dest, 'RECOVERYXLOG')}'`], { reject: false });
  return { stage, dest, applied, restore };
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('prefetching restore_command', () => {
  it('hands over every listed segment byte-identically, once, never staging more than the depth', async () => {
    const { stage, dest, applied, restore } = setup('order');
    const depth = 3;
    const pf = new Prefetcher({ db, stageDir: stage, segments: await listed(), depth, concurrency: 2 });
    pf.start();
    try {
      for (const name of names) {
        const r = await restore(name);
        expect([r.exitCode, r.stderr]).toEqual([0, '']);
        expect(sha(readFileSync(join(dest, 'RECOVERYXLOG')))).toBe(sha(data.get(name)!));
        // PostgreSQL removes RECOVERYXLOG before the next restore.
        rmSync(join(dest, 'RECOVERYXLOG'));
        const staged = readdirSync(stage).filter((f) => !f.startsWith('.'));
        expect(staged.length).toBeLessThanOrEqual(depth);
        expect(staged.every((f) => f > name)).toBe(true);
      }
      // The end of the archive and a timeline that does not exist: exit 1, nothing written.
      expect((await restore(segName(1, COUNT + 1))).exitCode).toBe(1);
      expect((await restore('00000003.history')).exitCode).toBe(1);
      expect(readdirSync(dest)).toEqual([]);
    } finally {
      await pf.stop();
    }
    expect(readFileSync(applied, 'utf8').trim().split('\n')).toEqual(names);
    expect(pf.fetched).toBe(names.length);
    expect(pf.lastError).toBeNull();
    // Nothing left behind in the staging area: no duplicate download, no stray answer.
    expect(readdirSync(stage)).toEqual([]);
  }, 60_000);

  it('answers a history file and a segment archived after the prefetch started', async () => {
    const { stage, dest, restore } = setup('want');
    const pf = new Prefetcher({ db, stageDir: stage, segments: [], depth: 2 });
    pf.start();
    try {
      const h = await restore('00000002.history');
      expect(h.exitCode).toBe(0);
      expect(readFileSync(join(dest, 'RECOVERYXLOG'), 'utf8')).toBe('1\t0/5000000\tno recovery target specified\n');
      rmSync(join(dest, 'RECOVERYXLOG'));
      const r = await restore(names[4]!);
      expect(r.exitCode).toBe(0);
      expect(readFileSync(join(dest, 'RECOVERYXLOG')).equals(data.get(names[4]!)!)).toBe(true);
    } finally {
      await pf.stop();
    }
    expect(readdirSync(stage)).toEqual([]);
  }, 60_000);

  it('a corrupt stored segment makes restore_command fail fatally for PostgreSQL (exit 126) naming it, and hands nothing over', async () => {
    const { stage, dest, restore } = setup('corrupt');
    const segs = await listed();
    const victim = segs[1]!;
    const file = join(repoDir, victim.key!);
    const saved = readFileSync(file);
    const bad = Buffer.from(saved);
    bad[SEG / 2] = bad[SEG / 2]! ^ 0xff;
    writeFileSync(file, bad);
    const pf = new Prefetcher({ db, stageDir: stage, segments: segs, depth: 4, concurrency: 2 });
    pf.start();
    try {
      expect((await restore(segs[0]!.name)).exitCode).toBe(0);
      rmSync(join(dest, 'RECOVERYXLOG'));
      const r = await restore(victim.name);
      expect(r.exitCode).toBe(126);
      expect(r.stderr).toContain(victim.name);
      expect(readdirSync(dest)).toEqual([]);
      expect(readdirSync(stage)).not.toContain(victim.name);
    } finally {
      await pf.stop();
      writeFileSync(file, saved);
    }
  }, 60_000);
});
