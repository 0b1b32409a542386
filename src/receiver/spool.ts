/**
 * The spool directory: the not-yet-uploaded tail of the WAL stream, fsync'd.
 *
 *   <segment>            complete segment waiting for upload
 *   <segment>.partial    the segment being written (at most one per timeline)
 *   <TLI>.history        timeline history file waiting for upload
 *   spool.json           identity of the server this spool belongs to (system identifier)
 */
import { mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { PitrdError } from '../errors.js';
import { isSegmentName, parseHistoryFileName } from '../wal/segment.js';

export interface SpoolSegment {
  timeline: number;
  name: string;
}

export interface SpoolContents {
  /** Complete segments, in name (timeline, then LSN) order. */
  complete: SpoolSegment[];
  partials: SpoolSegment[];
  histories: number[];
}

export const PARTIAL_SUFFIX = '.partial';
export const IDENTITY_FILE = 'spool.json';

export function timelineOfSegment(name: string): number {
  return Number.parseInt(name.slice(0, 8), 16);
}

export async function ensureSpoolDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
}

export async function scanSpool(dir: string): Promise<SpoolContents> {
  const out: SpoolContents = { complete: [], partials: [], histories: [] };
  for (const f of (await readdir(dir)).sort()) {
    if (isSegmentName(f)) out.complete.push({ timeline: timelineOfSegment(f), name: f });
    else if (f.endsWith(PARTIAL_SUFFIX) && isSegmentName(f.slice(0, -PARTIAL_SUFFIX.length))) {
      const name = f.slice(0, -PARTIAL_SUFFIX.length);
      out.partials.push({ timeline: timelineOfSegment(name), name });
    } else {
      const tli = parseHistoryFileName(f);
      if (tli !== null) out.histories.push(tli);
    }
  }
  return out;
}

/** Make a rename or unlink in `dir` durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Write a small file durably: temp file, fsync, rename, fsync dir. */
export async function writeFileDurable(dir: string, name: string, content: Buffer | string): Promise<void> {
  const tmp = join(dir, `${name}.tmp`);
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(content);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, join(dir, name));
  await fsyncDir(dir);
}

export async function removeDurable(dir: string, name: string): Promise<void> {
  await unlink(join(dir, name)).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
  await fsyncDir(dir);
}

export async function fileSize(path: string): Promise<number> {
  return (await stat(path)).size;
}

export interface SpoolIdentity {
  system_identifier: string;
  wal_segment_size: number;
}

/**
 * A spool only ever holds WAL of one server. Checked on every connect so a spool directory
 * reused for another cluster is refused before a single byte is mixed in.
 */
export async function checkSpoolIdentity(dir: string, current: SpoolIdentity): Promise<void> {
  let saved: SpoolIdentity | null = null;
  try {
    saved = JSON.parse(await readFile(join(dir, IDENTITY_FILE), 'utf8')) as SpoolIdentity;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (saved === null) {
    await writeFileDurable(dir, IDENTITY_FILE, JSON.stringify(current) + '\n');
    return;
  }
  if (saved.system_identifier !== current.system_identifier || saved.wal_segment_size !== current.wal_segment_size) {
    throw new PitrdError(
      'SYSTEM_ID_MISMATCH',
      `spool ${dir} holds WAL of system ${saved.system_identifier} (segment size ${saved.wal_segment_size}) but the server is system ${current.system_identifier} (segment size ${current.wal_segment_size})`,
      { context: { spool: dir, expected: saved.system_identifier, actual: current.system_identifier } },
    );
  }
}

