/**
 * Whether the fs driver writes the bulk of large objects with O_DIRECT (fs-direct.ts) or through
 * the page cache: `storage.direct_io` = on | off | auto (the default).
 *
 * Why a measurement: neither way wins everywhere. On the machine fs-direct.ts was tuned on,
 * direct writes of a 2 GB base backup ran at disk speed and buffered ones paid for fresh
 * page-cache pages; on another (dd oflag=direct 1.5 GB/s) the same backup took 4.8x
 * pg_basebackup's time direct and 0.9x buffered. Measured here (issue 20): pitrd's direct
 * writes run one synchronous 8 MiB request at a time, and under load each one took 18-40 ms
 * (dd's took 10), plus a trip through the event loop and threadpool between them with the
 * device idle, while buffered writes leave the kernel's writeback a deep queue. So `auto`
 * measures, once per file system and process, when the first large object is written: the
 * same bytes through both paths (the real writer, fsync'd, alternated, best of each), and goes
 * direct only if that is clearly faster. Anything unclear or failing keeps the buffered path.
 */
import { randomBytes } from 'node:crypto';
import { open, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { BlockPool } from './block-pool.js';
import { writeStream } from './fs-write.js';
import { TEMP_MARKER } from './keys.js';

export const DIRECT_IO_MODES = ['auto', 'on', 'off'] as const;
export type DirectIoMode = (typeof DIRECT_IO_MODES)[number];

/** Bytes per probe write: several direct stages past the buffered head (DIRECT_AFTER_BYTES). */
export const PROBE_BYTES = 48 * 1024 * 1024;
/** Probe writes per path, alternated; the best of each counts (noise only ever adds time). */
const PROBE_ROUNDS = 2;
/** Direct must beat buffered by this factor to be chosen: a tie keeps the page cache. */
export const DIRECT_MARGIN = 1.2;

export interface DirectChoice {
  direct: boolean;
  /** Best seconds per probe write, each path (null: not measured, e.g. the probe failed). */
  directSeconds: number | null;
  bufferedSeconds: number | null;
}

/** Per file system (st_dev) in this process: the measurement, made once. */
const choices = new Map<number, Promise<DirectChoice>>();

/** The last choice made, for the benchmarks' and tests' reports. */
export let lastDirectChoice: DirectChoice | null = null;

/** Pure rule: direct only when measured and clearly faster. */
export function preferDirect(directSeconds: number | null, bufferedSeconds: number | null): boolean {
  if (directSeconds === null || bufferedSeconds === null) return false;
  return directSeconds * DIRECT_MARGIN < bufferedSeconds;
}

/** Whether `mode` means direct writes for objects stored under `root` (measuring once for auto). */
export async function useDirect(mode: DirectIoMode, root: string): Promise<boolean> {
  if (mode !== 'auto') return mode === 'on';
  let dev: number;
  try {
    dev = (await stat(root)).dev;
  } catch {
    return false;
  }
  let c = choices.get(dev);
  if (!c) {
    c = measure(root);
    choices.set(dev, c);
  }
  return (await c).direct;
}

async function measure(root: string): Promise<DirectChoice> {
  const best = { direct: Infinity, buffered: Infinity };
  let choice: DirectChoice;
  try {
    const pool = new BlockPool();
    for (let r = 0; r < PROBE_ROUNDS; r++) {
      for (const direct of [false, true]) {
        const s = await timedWrite(root, pool, direct);
        if (direct) best.direct = Math.min(best.direct, s);
        else best.buffered = Math.min(best.buffered, s);
      }
    }
    choice = { direct: preferDirect(best.direct, best.buffered), directSeconds: best.direct, bufferedSeconds: best.buffered };
  } catch {
    choice = { direct: false, directSeconds: null, bufferedSeconds: null };
  }
  lastDirectChoice = choice;
  return choice;
}

/** Seconds to write PROBE_BYTES of pooled blocks to a temp file (skipped by list()) and fsync it. */
async function timedWrite(root: string, pool: BlockPool, direct: boolean): Promise<number> {
  const path = join(root, `direct-probe${TEMP_MARKER}${randomBytes(6).toString('hex')}`);
  const fh = await open(path, 'wx', 0o600);
  try {
    const t0 = process.hrtime.bigint();
    await writeStream(fh, path, blocks(pool, PROBE_BYTES), { durable: true, direct });
    await fh.sync();
    return Number(process.hrtime.bigint() - t0) / 1e9;
  } finally {
    await fh.close().catch(() => undefined);
    await rm(path, { force: true });
  }
}

/** `total` bytes as pooled 1 MiB blocks, as a base backup's stream hands them on. */
function blocks(pool: BlockPool, total: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      while (sent < total) {
        const b = pool.take();
        b.fill(sent >>> 20);
        sent += b.length;
        if (!this.push(pool.handOut(b, b.length))) return;
      }
      this.push(null);
    },
  });
}
