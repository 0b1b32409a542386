/**
 * The facts a base backup records about itself, read from what the server produced: the
 * backup_label inside base.tar and the backup_manifest's WAL-Ranges. Pure.
 */
import { PitrdError } from '../errors.js';
import { formatLsn, parseLsn } from '../wal/lsn.js';
import { segmentName, segnoOf } from '../wal/segment.js';
import type { Lsn } from '../types.js';

export interface BackupLabel {
  startLsn: Lsn;
  checkpointLsn: Lsn | null;
  /** null when the server's time zone abbreviation is not one we can read unambiguously. */
  startTime: Date | null;
  startTimeline: number;
  label: string | null;
}

/** Parse a backup_label file (as written by do_pg_backup_start). */
export function parseBackupLabel(text: string): BackupLabel {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const i = line.indexOf(': ');
    if (i > 0) fields.set(line.slice(0, i), line.slice(i + 2));
  }
  const start = /^([0-9A-F]+\/[0-9A-F]+)/i.exec(fields.get('START WAL LOCATION') ?? '');
  const tli = Number(fields.get('START TIMELINE'));
  if (!start || !Number.isInteger(tli) || tli < 1) {
    throw new PitrdError('BACKUP_FAILED', 'backup_label lacks a readable START WAL LOCATION or START TIMELINE', { context: { backup_label: text.slice(0, 500) } });
  }
  const ckpt = /^([0-9A-F]+\/[0-9A-F]+)/i.exec(fields.get('CHECKPOINT LOCATION') ?? '');
  return {
    startLsn: parseLsn(start[1]!),
    checkpointLsn: ckpt ? parseLsn(ckpt[1]!) : null,
    startTime: parseLabelTime(fields.get('START TIME') ?? ''),
    startTimeline: tli,
    label: fields.get('LABEL') ?? null,
  };
}

/**
 * "2026-11-23 08:30:00 UTC" (strftime "%Y-%m-%d %H:%M:%S %Z" in the server's log_timezone).
 * Only zone names that mean one offset are read; an abbreviation such as "CST" is ambiguous, and
 * a wrong start time would be worse than the caller's clock (which it falls back to).
 */
export function parseLabelTime(text: string): Date | null {
  const m = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}) (\S+)$/.exec(text.trim());
  if (!m) return null;
  const zone = m[3]!;
  let offset: string | null = null;
  if (zone === 'UTC' || zone === 'GMT' || zone === 'Z') offset = 'Z';
  else if (/^[+-]\d{2}$/.test(zone)) offset = `${zone}:00`;
  else if (/^[+-]\d{2}:?\d{2}$/.test(zone)) offset = zone.length === 5 ? `${zone.slice(0, 3)}:${zone.slice(3)}` : zone;
  if (offset === null) return null;
  const d = new Date(`${m[1]}T${m[2]}${offset}`);
  return Number.isNaN(d.getTime()) ? null : d;
}

export interface WalRange {
  timeline: number;
  startLsn: Lsn;
  endLsn: Lsn;
}

/** The "WAL-Ranges" of a backup_manifest: the WAL needed to make the backup consistent. */
export function parseManifestWalRanges(manifest: Buffer | string): WalRange[] {
  let doc: unknown;
  try {
    doc = JSON.parse(typeof manifest === 'string' ? manifest : manifest.toString('utf8'));
  } catch (err) {
    throw new PitrdError('BACKUP_FAILED', 'backup_manifest is not valid JSON', { cause: err });
  }
  const ranges = (doc as { 'WAL-Ranges'?: unknown })['WAL-Ranges'];
  if (!Array.isArray(ranges) || ranges.length === 0) {
    throw new PitrdError('BACKUP_FAILED', 'backup_manifest has no WAL-Ranges', {});
  }
  return ranges.map((r: Record<string, unknown>) => ({
    timeline: Number(r.Timeline),
    startLsn: parseLsn(String(r['Start-LSN'])),
    endLsn: parseLsn(String(r['End-LSN'])),
  }));
}

/**
 * Names of the WAL segments that replay from `start` to `stop` reads, in order. The stop LSN
 * is the end of the backup-end record: when it falls exactly on a segment boundary, the segment
 * that begins there holds none of the needed WAL.
 */
export function segmentsBetween(timeline: number, start: Lsn, stop: Lsn, segSize: number): string[] {
  if (stop < start) throw new PitrdError('VALIDATION_ERROR', `stop LSN ${formatLsn(stop)} is before start LSN ${formatLsn(start)}`, {});
  const first = segnoOf(start, segSize);
  const last = stop > start ? segnoOf(stop - 1n, segSize) : first;
  const out: string[] = [];
  for (let s = first; s <= last; s++) out.push(segmentName(timeline, s, segSize));
  return out;
}

/** An id that sorts by creation time: `bkp_20261123T083000Z_1a2b3c4d`. */
export function newBackupId(now: Date = new Date(), random: () => string = defaultRandom): string {
  const t = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `bkp_${t}_${random()}`;
}

function defaultRandom(): string {
  return Math.floor(Math.random() * 0xffffffff).toString(16).padStart(8, '0');
}

/** When a backup taken at `completedAt` stops being kept (null: kept until a policy says otherwise). */
export function expiresAt(completedAt: Date, retentionDays: number | undefined): string | null {
  if (retentionDays === undefined) return null;
  return new Date(completedAt.getTime() + retentionDays * 86_400_000).toISOString();
}
