/**
 * Serving the receiver's spool to a `latest` restore: WAL the receiver has flushed into
 * `<segment>.partial` is durable on this host but not yet an archived segment. The spool file
 * grows as WAL arrives (it is not preallocated), while restore_command must deliver exactly
 * wal_segment_size bytes or recovery fails with "archive file has wrong size". So a copy is
 * padded with zeros: PostgreSQL stops replay at the first invalid page header or record (the
 * zeros) and ends recovery there, as with pg_receivewal's partial files. Always a copy, never a
 * move: the receiver still owns the partial and goes on writing it.
 */
import { randomBytes } from 'node:crypto';
import { chownSync, closeSync, ftruncateSync, fstatSync, fsyncSync, openSync, readFileSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { PitrdError } from '../errors.js';
import { isSegmentName, parseSegmentName, segmentName } from '../wal/index.js';

const PARTIAL_SUFFIX = '.partial';

/**
 * Pure: the segment PostgreSQL asks for once it has replayed the last archived one on the
 * restore's timeline: where the spool may take over without a gap. Null when
 * the last segment in replay order is not on the target timeline (the new timeline has nothing
 * archived yet: its first segment starts at the switch point, not after the last one).
 */
export function segmentAfterArchive(replay: ReadonlyArray<{ timeline: number; name: string }>, targetTimeline: number, segSize: number): string | null {
  const last = replay[replay.length - 1];
  if (!last || last.timeline !== targetTimeline) return null;
  return segmentName(targetTimeline, parseSegmentName(last.name, segSize).segno + 1n, segSize);
}

/**
 * Pure: may a request for `file` be answered from the spool? Only a segment of the restore's
 * timeline at or after `first` (segmentAfterArchive), asked for after the repository said it
 * does not have it. PostgreSQL asks for segments in order, so each one served continues the
 * last without a gap; and the ones after `first` matter because the receiver may complete and
 * upload `first` while the base backup is still being replayed: the spool's partial is then a
 * later segment than the one the archive listing pointed at.
 */
export function servableFromSpool(file: string, first: string, segSize: number): boolean {
  if (!isSegmentName(file) || file.slice(0, 8) !== first.slice(0, 8)) return false;
  return parseSegmentName(file, segSize).segno >= parseSegmentName(first, segSize).segno;
}

/**
 * A spool only holds WAL of one server (spool.json, written by the receiver): refuse a spool of
 * another cluster before a byte of it is replayed into this one. No spool.json: the receiver
 * never connected, so there is no partial to serve either.
 */
export function assertSpoolOf(spoolDir: string, systemIdentifier: string | null, segSize: number): void {
  let saved: { system_identifier?: string; wal_segment_size?: number };
  try {
    saved = JSON.parse(readFileSync(join(spoolDir, 'spool.json'), 'utf8')) as typeof saved;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new PitrdError('VALIDATION_ERROR', `spool ${spoolDir}: spool.json is unreadable: ${(err as Error).message}`, { cause: err, context: { spool: spoolDir } });
  }
  if ((systemIdentifier !== null && saved.system_identifier !== systemIdentifier) || saved.wal_segment_size !== segSize) {
    throw new PitrdError(
      'SYSTEM_ID_MISMATCH',
      `spool ${spoolDir} holds WAL of system ${saved.system_identifier} (segment size ${saved.wal_segment_size}) but the repository's database is system ${systemIdentifier ?? '?'} (segment size ${segSize})`,
      { context: { spool: spoolDir, expected: systemIdentifier, actual: saved.system_identifier ?? null } },
    );
  }
}

/**
 * Copy the spool's `<name>.partial` to `dest`, zero-padded to `segSize`, via a temp file + rename.
 * If the receiver completed the segment (renamed to `<name>`, not yet uploaded), that complete
 * file is served instead. Returns which one was copied, or null when the spool holds neither.
 */
export function copyPaddedPartial(spoolDir: string, name: string, dest: string, segSize: number, owner?: { uid: number; gid: number }): 'partial' | 'segment' | null {
  let src = -1;
  let kind: 'partial' | 'segment' | null = null;
  for (const [f, k] of [[name + PARTIAL_SUFFIX, 'partial'], [name, 'segment']] as const) {
    try {
      src = openSync(join(spoolDir, f), 'r');
      kind = k;
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  if (src < 0) return null;
  const tmp = join(dirname(dest), `.${basename(dest)}.${randomBytes(4).toString('hex')}.tmp`);
  let out = -1;
  try {
    // Read no more than one segment: the file only grows, and never beyond the segment size.
    const size = Math.min(fstatSync(src).size, segSize);
    const buf = Buffer.alloc(size);
    let got = 0;
    while (got < size) {
      const n = readSync(src, buf, got, size - got, got);
      if (n === 0) break;
      got += n;
    }
    out = openSync(tmp, 'w', 0o600);
    writeSync(out, buf, 0, got, 0);
    // Extending with ftruncate writes zeros: the padding PostgreSQL reads as the end of WAL.
    ftruncateSync(out, segSize);
    fsyncSync(out);
    closeSync(out);
    out = -1;
    if (owner) chownSync(tmp, owner.uid, owner.gid);
    renameSync(tmp, dest);
    return kind;
  } catch (err) {
    if (out >= 0) closeSync(out);
    rmSync(tmp, { force: true });
    throw err;
  } finally {
    closeSync(src);
  }
}
