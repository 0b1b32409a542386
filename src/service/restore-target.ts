/**
 * The recovery target of a restore or branch request, as the API's body gives it, parsed with the
 * one parser the CLI uses too (src/restore/parse-target.ts): same checks, same codes; messages
 * name the body's fields (`body.target_time` …).
 */
import type { TargetBody } from '../api/restores/index.js';
import { PitrdError } from '../errors.js';
import type { EventRestoreTarget } from '../catalog/index.js';
import { parseRecoveryTarget, parseTargetOrEvent, type RecoveryOptions, type RecoveryTarget, type RestoreProgressListener, type TargetField } from '../restore/index.js';

type TargetOptions = Pick<RecoveryOptions, 'target' | 'inclusive' | 'timeline'>;

/** What a restore is started with once its request is parsed (restores and branches). */
export interface RestoreOrder extends TargetOptions {
  backupId?: string;
  mode: 'stopped' | 'running';
  /** src/restore's RunRestoreOptions of the same names (drills). */
  strictLatest?: boolean;
  localTrust?: boolean;
  /** Progress events, besides the ones the restore's view folds (drills time their phases with them). */
  onProgress?: RestoreProgressListener;
  /** Fields added to restores/{id}.json (a drill's id). */
  recordFields?: Record<string, unknown>;
}

/** The body's target and options; none given: `fallback`, or VALIDATION_ERROR. */
export function parseTargetBody(body: TargetBody, fallback: RecoveryTarget | null): TargetOptions {
  const target = targetOf(body, fallback);
  return { target, ...recoveryOptions(body, target) };
}

const TARGET_KEYS = ['target_time', 'target_lsn', 'target_xid', 'target_name', 'target'] as const;

/**
 * parseTargetBody for a body that may name `before_event` (POST …/pitr/restore): the event is
 * looked up with `findEvent` (EVENT_ID_INVALID / EVENT_NOT_FOUND) and fixes inclusive (off) and
 * the timeline (the event's), so body.inclusive and body.timeline beside it are refused.
 */
export async function parseTargetBodyWithEvent(body: TargetBody, fallback: RecoveryTarget | null, findEvent: (id: string, as: string) => Promise<EventRestoreTarget>): Promise<TargetOptions> {
  if (body.before_event === undefined) return parseTargetBody(body, fallback);
  const options = [...(body.inclusive !== undefined ? ['body.inclusive'] : []), ...(body.timeline !== undefined ? ['body.timeline'] : [])];
  const p = await parseTargetOrEvent(givenOf(body), [...TARGET_KEYS.map((k) => `body.${k}`), 'body.before_event'], { fallback, findEvent, options });
  return { target: p.target, ...(p.inclusive !== undefined ? { inclusive: p.inclusive } : {}), ...(p.timeline !== undefined ? { timeline: p.timeline } : {}) };
}

function givenOf(body: TargetBody): { field: TargetField; value: string | true | undefined; as: string }[] {
  const latest = body.target_time === 'latest';
  return [
    { field: 'time', value: latest ? undefined : body.target_time, as: 'body.target_time' },
    { field: 'latest', value: latest ? true : undefined, as: 'body.target_time' },
    { field: 'lsn', value: body.target_lsn, as: 'body.target_lsn' },
    { field: 'xid', value: body.target_xid === undefined ? undefined : String(body.target_xid), as: 'body.target_xid' },
    { field: 'name', value: body.target_name, as: 'body.target_name' },
    { field: body.target === 'immediate' ? 'immediate' : 'latest', value: body.target !== undefined ? true : undefined, as: 'body.target' },
    { field: 'event', value: body.before_event, as: 'body.before_event' },
  ];
}


/**
 * The one recovery target of a body. None given: `fallback` (a backup restore stops at the
 * backup's consistency point; a branch follows the archive to its end), or VALIDATION_ERROR.
 */
export function targetOf(body: TargetBody, fallback: RecoveryTarget | null): RecoveryTarget {
  return parseRecoveryTarget(givenOf(body), TARGET_KEYS.map((k) => `body.${k}`), fallback);
}

/** inclusive only means something for time / lsn / xid targets: say so rather than ignore it. */
export function recoveryOptions(body: TargetBody, target: RecoveryTarget): Omit<TargetOptions, 'target'> {
  if (body.inclusive !== undefined && target.kind !== 'time' && target.kind !== 'lsn' && target.kind !== 'xid') {
    throw new PitrdError('VALIDATION_ERROR', `body.inclusive: only applies to target_time, target_lsn or target_xid, not to a "${target.kind}" target`, {
      context: { fields: ['body.inclusive'] },
    });
  }
  return { ...(body.inclusive !== undefined ? { inclusive: body.inclusive } : {}), ...(body.timeline !== undefined ? { timeline: body.timeline } : {}) };
}
