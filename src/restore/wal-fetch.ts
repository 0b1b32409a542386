import { randomBytes } from 'node:crypto';
import { chownSync, createWriteStream, renameSync, rmSync, writeFileSync } from 'node:fs';
import { chown, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { isPitrdError } from '../errors.js';
import type { DatabaseRepository, StoredWalSegment } from '../repository/index.js';
import { isSegmentName, parseHistoryFileName } from '../wal/index.js';

export type WalFetchOutcome = 'fetched' | 'missing';

/**
 * restore_command's work: bring `file` (a segment or a TLI.history name, as PostgreSQL's %f)
 * from the repository into `dest` (%p), verified and decoded, via a temp file + rename so
 * PostgreSQL never sees half a file. 'missing' is a normal answer: PostgreSQL probes for
 * history files and next timelines that do not exist. Checksum or decryption failures throw.
 */
export async function fetchWalFile(db: DatabaseRepository, file: string, dest: string, owner?: { uid: number; gid: number }): Promise<WalFetchOutcome> {
  const data = await readWalFile(db, file);
  if (data === null) return 'missing';
  const tmp = join(dirname(dest), `.${basename(dest)}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    writeFileSync(tmp, data, { mode: 0o600 });
    if (owner) chownSync(tmp, owner.uid, owner.gid);
    renameSync(tmp, dest);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  return 'fetched';
}

/**
 * A segment found by listSegments() streamed into `dest`: one GET (no lookup), decoded and
 * written as it arrives (decompression on the threadpool, sha256 on the hash thread, nothing
 * buffered whole and no blocking write on the event loop), renamed into place only once the
 * checksum matched. What the prefetcher uses for the many segments of a replay.
 */
export async function fetchListedSegment(db: DatabaseRepository, seg: StoredWalSegment, dest: string, owner?: { uid: number; gid: number }): Promise<void> {
  const tmp = join(dirname(dest), `.${basename(dest)}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await pipeline(await db.wal.readListedSegment(seg), createWriteStream(tmp, { mode: 0o600 }));
    if (owner) await chown(tmp, owner.uid, owner.gid);
    await rename(tmp, dest);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

export async function readWalFile(db: DatabaseRepository, file: string): Promise<Buffer | null> {
  const tli = parseHistoryFileName(file);
  if (tli !== null) return db.wal.getHistory(tli);
  // .partial, .backup and anything else are never archived by pitrd: absent, not an error.
  if (!isSegmentName(file)) return null;
  const timeline = Number.parseInt(file.slice(0, 8), 16);
  if (timeline < 1) return null;
  try {
    return await db.wal.getSegment(timeline, file);
  } catch (err) {
    if (isPitrdError(err, 'OBJECT_NOT_FOUND')) return null;
    throw err;
  }
}
