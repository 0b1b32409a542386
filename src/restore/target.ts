import { PitrdError } from '../errors.js';

/** Where recovery stops: PostgreSQL's recovery_target_* family, one kind at a time. */
export type RecoveryTarget =
  | { kind: 'time'; time: string }
  | { kind: 'lsn'; lsn: string }
  | { kind: 'xid'; xid: string }
  | { kind: 'name'; name: string }
  | { kind: 'latest' }
  | { kind: 'immediate' };

export type TargetAction = 'promote' | 'pause' | 'shutdown';

export interface RecoveryOptions {
  target: RecoveryTarget;
  /** recovery_target_inclusive (ignored by latest/immediate/name). Default true, as PostgreSQL. */
  inclusive?: boolean;
  /** recovery_target_timeline: a number, 'latest' (PostgreSQL 12+ default) or 'current'. */
  timeline?: number | 'latest' | 'current';
  action?: TargetAction;
}

const quote = (s: string) => `'${s.replace(/'/g, "''")}'`;

/**
 * The recovery settings for postgresql.auto.conf. Pure: the restore_command comes from the
 * caller (it names the staging dir and the fallback fetch command).
 */
export function recoverySettings(opts: RecoveryOptions, restoreCommand: string): Record<string, string> {
  const s: Record<string, string> = { restore_command: quote(restoreCommand) };
  const t = opts.target;
  if (t.kind === 'time') s.recovery_target_time = quote(pgTimestamp(t.time));
  else if (t.kind === 'lsn') s.recovery_target_lsn = quote(t.lsn);
  else if (t.kind === 'xid') s.recovery_target_xid = quote(t.xid);
  else if (t.kind === 'name') s.recovery_target_name = quote(t.name);
  else if (t.kind === 'immediate') s.recovery_target = quote('immediate');
  if ((t.kind === 'time' || t.kind === 'lsn' || t.kind === 'xid') && opts.inclusive !== undefined) {
    s.recovery_target_inclusive = opts.inclusive ? 'on' : 'off';
  }
  s.recovery_target_timeline = quote(String(opts.timeline ?? 'latest'));
  // With no target, PostgreSQL ignores the action and promotes at the end of the archive.
  if (t.kind !== 'latest') s.recovery_target_action = quote(opts.action ?? 'promote');
  return s;
}

/** Validate a target as a user typed it; errors name the value. */
export function assertTarget(t: RecoveryTarget): void {
  if (t.kind === 'time' && Number.isNaN(Date.parse(t.time))) {
    throw new PitrdError('TARGET_TIME_INVALID', `recovery target time "${t.time}" is not an ISO 8601 time`, { context: { target_time: t.time } });
  }
  if (t.kind === 'lsn' && !/^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/i.test(t.lsn)) {
    throw new PitrdError('VALIDATION_ERROR', `recovery target LSN "${t.lsn}" is not an LSN such as 0/1A2B3C`, { context: { target_lsn: t.lsn } });
  }
  if (t.kind === 'xid' && !/^\d+$/.test(t.xid)) {
    throw new PitrdError('VALIDATION_ERROR', `recovery target xid "${t.xid}" is not a transaction id`, { context: { target_xid: t.xid } });
  }
  if (t.kind === 'name' && (t.name === '' || t.name.length > 63)) {
    throw new PitrdError('VALIDATION_ERROR', `restore point name "${t.name}" must be 1-63 characters`, { context: { target_name: t.name } });
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
