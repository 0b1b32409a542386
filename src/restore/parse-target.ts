/**
 * The one parser of recovery targets as users spell them, shared by the CLI (--to-time …) and the
 * API (target_time …): same checks, same normalised form, same codes. A malformed value is a
 * VALIDATION_ERROR (nothing is planned); a well-formed target the archive cannot reach is refused
 * later by the plan (TARGET_TIME_INVALID, WAL_GAP, TARGET_AMBIGUOUS).
 */
import type { EventRestoreTarget } from '../catalog/index.js';
import { PitrdError } from '../errors.js';
import { normaliseTime } from './target-time.js';
import { assertTarget, type RecoveryTarget } from './target.js';

export type TargetField = 'time' | 'lsn' | 'xid' | 'name' | 'latest' | 'immediate' | 'event';

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
  const g = chooseOne(given, names, fallback);
  if (!g) return fallback!;
  if (g.field === 'event') throw new PitrdError('VALIDATION_ERROR', `${g.as} is not accepted here`, { context: { fields: [g.as] } });
  const t = targetOfField(g);
  assertTarget(t);
  return t;
}

/** The one target given (VALIDATION_ERROR for several, or for none without a fallback); null = use the fallback. */
function chooseOne(given: readonly { field: TargetField; value: string | true | undefined; as: string }[], names: readonly string[], fallback: RecoveryTarget | null): GivenTarget | null {
  const set = given.filter((g): g is GivenTarget => g.value !== undefined);
  if (set.length > 1) {
    throw new PitrdError('VALIDATION_ERROR', `give one recovery target, not several (${set.map((g) => g.as).join(', ')})`, { context: { fields: set.map((g) => g.as) } });
  }
  const g = set[0];
  if (!g && !fallback) throw new PitrdError('VALIDATION_ERROR', `a recovery target is required: one of ${names.join(', ')}`, { context: { fields: [...names] } });
  return g ?? null;
}


/** A target with the recovery options it comes with (an event's: exclusive, on the event's timeline). */
export interface ParsedTarget {
  target: RecoveryTarget;
  inclusive?: boolean;
  timeline?: number;
  /** The event id the target was taken from. */
  event?: string;
}

/**
 * parseRecoveryTarget where one of the fields may name an event (`--before-event`,
 * `body.before_event`): the event is looked up with `findEvent` (EVENT_ID_INVALID, EVENT_NOT_FOUND
 * before anything is written) and its restore target just before it is the target, with
 * recovery_target_inclusive off and the event's timeline. `options` names recovery options given
 * beside it (`--exclusive`, `body.inclusive` …): an event fixes them, so they are refused.
 */
export async function parseTargetOrEvent(
  given: readonly { field: TargetField; value: string | true | undefined; as: string }[],
  names: readonly string[],
  opts: { fallback?: RecoveryTarget | null; findEvent: (id: string, as: string) => Promise<EventRestoreTarget>; options?: readonly string[] },
): Promise<ParsedTarget> {
  const g = chooseOne(given, names, opts.fallback ?? null);
  if (!g || g.field !== 'event') return { target: parseRecoveryTarget(given, names, opts.fallback ?? null) };
  if (opts.options?.length) {
    throw new PitrdError('VALIDATION_ERROR', `${opts.options.join(', ')}: not with ${g.as} (an event's target is just before it, on its timeline)`, { context: { fields: [...opts.options, g.as] } });
  }
  const id = g.value === true ? '' : g.value;
  const rt = await opts.findEvent(id, g.as);
  const target: RecoveryTarget = 'target_xid' in rt ? { kind: 'xid', xid: rt.target_xid } : { kind: 'name', name: rt.target_name };
  assertTarget(target);
  return { target, ...('target_xid' in rt ? { inclusive: false } : {}), timeline: rt.timeline, event: id };
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
    case 'event':
      throw new PitrdError('VALIDATION_ERROR', `${g.as}: an event is looked up, not parsed (parseTargetOrEvent)`);
  }
}
