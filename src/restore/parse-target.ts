/**
 * The one parser of recovery targets as users spell them, shared by the CLI (--to-time …) and the
 * API (target_time …): same checks, same normalised form, same codes. A malformed value is a
 * VALIDATION_ERROR (nothing is planned); a well-formed target the archive cannot reach is refused
 * later by the plan (TARGET_TIME_INVALID, WAL_GAP, TARGET_AMBIGUOUS).
 */
import { PitrdError } from '../errors.js';
import { normaliseTime } from './target-time.js';
import { assertTarget, type RecoveryTarget } from './target.js';

export type TargetField = 'time' | 'lsn' | 'xid' | 'name' | 'latest' | 'immediate';

/** One target field as given: its value and how the caller spells it (for messages: "--to-time", "body.target_time"). */
export interface GivenTarget {
  field: TargetField;
  value: string | true;
  as: string;
}


/**
 * Exactly one of `given` (entries with an undefined value are ignored), validated; LSNs are put in
 * upper case. None given: `fallback`, or a
 * VALIDATION_ERROR listing `names` (every spelling the caller accepts).
 */
export function parseRecoveryTarget(given: readonly { field: TargetField; value: string | true | undefined; as: string }[], names: readonly string[], fallback: RecoveryTarget | null = null): RecoveryTarget {
  const set = given.filter((g): g is GivenTarget => g.value !== undefined);
  if (set.length > 1) {
    throw new PitrdError('VALIDATION_ERROR', `give one recovery target, not several (${set.map((g) => g.as).join(', ')})`, { context: { fields: set.map((g) => g.as) } });
  }
  const g = set[0];
  if (!g) {
    if (fallback) return fallback;
    throw new PitrdError('VALIDATION_ERROR', `a recovery target is required: one of ${names.join(', ')}`, { context: { fields: [...names] } });
  }
  const t = targetOfField(g);
  assertTarget(t);
  return t;
}

function targetOfField(g: GivenTarget): RecoveryTarget {
  const v = g.value === true ? '' : g.value;
  switch (g.field) {
    case 'time':
      // Checked here, kept as spelled (messages quote the user's value); the plan compares it to
      // the microsecond (src/wal/reach.ts micros).
      normaliseTime(v, g.as);
      return { kind: 'time', time: v };
    case 'lsn':
      return { kind: 'lsn', lsn: v.toUpperCase() };
    case 'xid':
      return { kind: 'xid', xid: v };
    case 'name':
      return { kind: 'name', name: v };
    case 'latest':
      return { kind: 'latest' };
    case 'immediate':
      return { kind: 'immediate' };
  }
}
