import { PitrdError } from '../errors.js';
import type { WalTarget } from '../wal/index.js';
import { normaliseTime } from './target-time.js';
import { assertPgText, pgConfQuote } from '../pg-text.js';

/** Where recovery stops: PostgreSQL's recovery_target_* family, one kind at a time (one type, src/wal's). */
export type RecoveryTarget = WalTarget;

export type TargetAction = 'promote' | 'pause' | 'shutdown';

export interface RecoveryOptions {
  target: RecoveryTarget;
  /** recovery_target_inclusive (ignored by latest/immediate/name). Default true, as PostgreSQL. */
  inclusive?: boolean;
  /** recovery_target_timeline: a number, 'latest' (PostgreSQL 12+ default) or 'current'. */
  timeline?: number | 'latest' | 'current';
  action?: TargetAction;
}

const quote = (s: string, field: string) => pgConfQuote(s, field);

/** PostgreSQL's recovery target settings, one per target kind (at most one may be non-empty). */
const TARGET_SETTINGS = {
  immediate: 'recovery_target',
  lsn: 'recovery_target_lsn',
  name: 'recovery_target_name',
  time: 'recovery_target_time',
  xid: 'recovery_target_xid',
} as const;

/**
 * The recovery settings appended to postgresql.auto.conf, every value quoted by pgConfQuote.
 * Pure: the restore_command comes from the caller (it names the staging dir).
 *
 * Every recovery target setting is written, the unused ones empty and first: the base backup
 * carries the SOURCE's configuration, and a recovery_target_* or recovery_target_inclusive it set
 * would otherwise join ours (PostgreSQL refuses two targets; a stray inclusive moves the stop).
 * The last value of a setting in the files wins, and ours are the last lines read.
 */
export function recoverySettings(opts: RecoveryOptions, restoreCommand: string): Record<string, string> {
  const s: Record<string, string> = { restore_command: quote(restoreCommand, 'restore_command') };
  const t = opts.target;
  for (const [kind, setting] of Object.entries(TARGET_SETTINGS)) if (kind !== t.kind) s[setting] = "''";
  if (t.kind === 'time') s.recovery_target_time = quote(pgTimestamp(t.time), 'target_time');
  else if (t.kind === 'lsn') s.recovery_target_lsn = quote(t.lsn, 'target_lsn');
  else if (t.kind === 'xid') s.recovery_target_xid = quote(t.xid, 'target_xid');
  else if (t.kind === 'name') s.recovery_target_name = quote(t.name, 'target_name');
  else if (t.kind === 'immediate') s.recovery_target = quote('immediate', 'target');
  s.recovery_target_inclusive = (t.kind === 'time' || t.kind === 'lsn' || t.kind === 'xid') && opts.inclusive === false ? 'off' : 'on';
  s.recovery_target_timeline = quote(String(opts.timeline ?? 'latest'), 'timeline');
  // With no target, PostgreSQL ignores the action and promotes at the end of the archive.
  s.recovery_target_action = quote(t.kind === 'latest' ? 'promote' : (opts.action ?? 'promote'), 'action');
  return s;
}

/** The largest recovery_target_xid PostgreSQL takes (an epoch-qualified 64-bit xid). */
const MAX_XID = (1n << 64n) - 1n;
/** Transaction ids below 3 are reserved (invalid, bootstrap, frozen): no commit carries one. */
const FIRST_NORMAL_XID = 3n;
/** restore point names: PostgreSQL's MAXFNAMELEN - 1 bytes. */
const MAX_RESTORE_POINT_BYTES = 63;

/** Validate a target as a user typed it; errors name the value. */
export function assertTarget(t: RecoveryTarget): void {
  // A malformed time is a VALIDATION_ERROR, as over the API (one parser: ./target-time.ts).
  if (t.kind === 'time') normaliseTime(t.time);
  if (t.kind === 'lsn' && !/^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/i.test(t.lsn)) {
    throw new PitrdError('VALIDATION_ERROR', `recovery target LSN "${t.lsn}" is not an LSN such as 0/1A2B3C`, { context: { target_lsn: t.lsn } });
  }
  if (t.kind === 'xid') {
    if (!/^\d{1,20}$/.test(t.xid)) throw new PitrdError('VALIDATION_ERROR', `recovery target xid "${t.xid}" is not a transaction id`, { context: { target_xid: t.xid } });
    const xid = BigInt(t.xid);
    // PostgreSQL would refuse it only when the restored server starts, after the extraction.
    if (xid > MAX_XID || (xid & 0xffffffffn) < FIRST_NORMAL_XID) {
      throw new PitrdError('VALIDATION_ERROR', `recovery target xid ${t.xid} is out of range: a transaction id is 3 to 4294967295, optionally with an epoch in the high 32 bits (at most ${MAX_XID})`, {
        context: { target_xid: t.xid, fields: ['target_xid'] },
      });
    }
  }
  if (t.kind === 'name') {
    assertPgText('target_name', t.name);
    if (t.name === '' || Buffer.byteLength(t.name) > MAX_RESTORE_POINT_BYTES) {
      throw new PitrdError('VALIDATION_ERROR', `restore point name "${t.name}" must be 1-${MAX_RESTORE_POINT_BYTES} bytes (PostgreSQL's limit)`, { context: { target_name: t.name } });
    }
  }
}

/** The server-log line that proves recovery stopped where it was asked to. */
export function targetReachedPattern(t: RecoveryTarget): RegExp {
  if (t.kind === 'latest') return /archive recovery complete/;
  if (t.kind === 'immediate') return /recovery stopping after reaching consistency/;
  return /recovery stopping (before|after|at) /;
}

/**
 * PostgreSQL's timestamptz input does not take ISO 8601's "T…Z" form everywhere: spell it out in
 * UTC. Keeps microseconds (a JS Date stops at milliseconds): commit times are microsecond-exact,
 * and truncating a target would stop recovery before commits the user asked to keep.
 */
export function pgTimestamp(iso: string): string {
  const d = new Date(iso);
  // Sub-millisecond digits do not depend on the zone offset (offsets are whole minutes).
  const micro = /[T ]\d\d:\d\d:\d\d\.\d{3}(\d{1,3})/.exec(iso)?.[1]?.padEnd(3, '0') ?? '';
  return `${d.toISOString().replace('T', ' ').replace('Z', '')}${micro}+00`;
}
