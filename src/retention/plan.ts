import { PitrdError } from '../errors.js';
import type { Lsn, TimelineId } from '../types.js';
import { contiguousRuns } from './ranges.js';
import { TimelineGraph } from './timelines.js';
import type {
  BackupDeletion,
  BackupKeepReason,
  BackupKept,
  Inventory,
  InventoryBackup,
  InventorySegment,
  ExpiryPlan,
  HistoryDecision,
  RetentionPolicy,
  WalDeletion,
  WalKept,
} from './types.js';

export const DAY_MS = 86_400_000;

type Restorable = InventoryBackup & { timeline: TimelineId; startLsn: Lsn; stopLsn: Lsn; stopTime: number };

const isRestorable = (b: InventoryBackup): b is Restorable =>
  b.status === 'completed' && b.timeline !== null && b.startLsn !== null && b.stopLsn !== null && b.stopTime !== null;

const isActive = (s: string) => s === 'pending' || s === 'running';

/** Consistency order: stop time, then stop LSN. Never the id or the timeline. Stable for ties. */
function byConsistencyPoint(a: Restorable, b: Restorable): number {
  if (a.stopTime !== b.stopTime) return a.stopTime - b.stopTime;
  return a.stopLsn < b.stopLsn ? -1 : a.stopLsn > b.stopLsn ? 1 : 0;
}

export function assertPolicy(policy: RetentionPolicy): void {
  if (!(Number.isFinite(policy.retentionDays) && policy.retentionDays > 0)) {
    throw new PitrdError('VALIDATION_ERROR', `retention policy: retention_days ${policy.retentionDays} must be a positive number`, { context: { retention_days: policy.retentionDays } });
  }
  if (!(Number.isInteger(policy.minFullBackups) && policy.minFullBackups >= 0)) {
    throw new PitrdError('VALIDATION_ERROR', `retention policy: min_full_backups ${policy.minFullBackups} must be a non-negative integer`, {
      context: { min_full_backups: policy.minFullBackups },
    });
  }
}

/**
 * Decide what retention may delete. Pure: the same inventory, policy and time give the same plan.
 *
 * Backups: the newest completed backup whose consistency point is at or before the window start
 * (the "anchor") and every newer one are kept, so any time inside the window has a backup to start
 * from; the newest min_full_backups are kept whatever their age; pinned, running, restored-from and
 * not-yet-expired backups are never deleted. Failed/interrupted records older than the window go.
 *
 * WAL: a kept backup needs every segment of its timeline from its start LSN on, and the same on
 * every timeline that branched from it after that LSN. Segments before that (per timeline), and
 * timelines no kept backup can reach, are deleted; a segment archived inside the window is kept
 * anyway. With no restorable backup left, or a restore still choosing its backup, no WAL goes.
 */
export function planExpiry(inventory: Inventory, policy: RetentionPolicy, now: number): ExpiryPlan {
  assertPolicy(policy);
  const windowStart = now - policy.retentionDays * DAY_MS;
  const keep = new Map<string, BackupKeepReason[]>();
  const addKeep = (id: string, r: BackupKeepReason) => {
    const list = keep.get(id) ?? [];
    if (!list.includes(r)) list.push(r);
    keep.set(id, list);
  };

  const activeRestores = inventory.restores.filter((r) => isActive(r.status));
  const restoredFrom = new Set(activeRestores.map((r) => r.backupId).filter((id): id is string => id !== null));
  // A restore that has not chosen its backup yet may pick any of them: delete nothing it could need.
  const restoreChoosing = activeRestores.some((r) => r.backupId === null);

  const restorable = inventory.backups.filter(isRestorable).sort(byConsistencyPoint);
  let anchor = -1;
  restorable.forEach((b, i) => {
    if (b.stopTime <= windowStart) anchor = i;
  });
  restorable.forEach((b, i) => {
    if (i > anchor) addKeep(b.id, 'inside-window');
    else if (i === anchor) addKeep(b.id, 'window-anchor');
    if (i >= restorable.length - policy.minFullBackups) addKeep(b.id, 'min-full-backups');
  });

  const deleteBackups: BackupDeletion[] = [];
  for (const b of inventory.backups) {
    if (b.pinned) addKeep(b.id, 'pinned');
    if (isActive(b.status)) addKeep(b.id, 'running');
    if (restoredFrom.has(b.id)) addKeep(b.id, 'restore-in-progress');
    if (b.expiresAt !== null && b.expiresAt > now) addKeep(b.id, 'not-yet-expired');
    if (b.status === 'completed' && !isRestorable(b)) addKeep(b.id, 'incomplete-record');
    const failed = b.status === 'failed' || b.status === 'interrupted';
    if (failed && b.createdAt >= windowStart) addKeep(b.id, 'failed-inside-window');
    if (keep.has(b.id)) continue;
    if (restoreChoosing) {
      addKeep(b.id, 'restore-choosing-backup');
      continue;
    }
    deleteBackups.push({ id: b.id, status: b.status, stopLsn: b.stopLsn, stopTime: b.stopTime, reason: failed ? 'failed-older-than-window' : 'older-than-window' });
  }
  const keepBackups: BackupKept[] = inventory.backups
    .filter((b) => keep.has(b.id))
    .map((b) => ({ id: b.id, status: b.status, stopLsn: b.stopLsn, stopTime: b.stopTime, reasons: keep.get(b.id)! }));
  // Deletion order: oldest consistency point first (failed records by creation time).
  const createdAt = new Map(inventory.backups.map((b) => [b.id, b.createdAt]));
  deleteBackups.sort((a, b) => (a.stopTime ?? createdAt.get(a.id)!) - (b.stopTime ?? createdAt.get(b.id)!));

  // Which WAL the kept backups need.
  const graph = new TimelineGraph(inventory.histories);
  const timelines = new Set<TimelineId>([...inventory.segments.map((s) => s.timeline), ...inventory.histories.map((h) => h.timeline)]);
  const neededFrom = new Map<TimelineId, Lsn>();
  const sources = inventory.backups.filter((b) => keep.has(b.id) && (isRestorable(b) || isActive(b.status)) && b.timeline !== null && b.startLsn !== null);
  for (const b of sources) {
    for (const t of graph.descendantsOfPoint(b.timeline!, b.startLsn!, timelines)) {
      const cur = neededFrom.get(t);
      if (cur === undefined || b.startLsn! < cur) neededFrom.set(t, b.startLsn!);
    }
  }
  const keepAllWal: WalKept['reason'] | null = restoreChoosing ? 'restore-choosing-backup' : restorable.length === 0 ? 'no-retained-backup' : null;

  type Label = WalKept['reason'] | WalDeletion['reason'];
  const labelled = inventory.segments.map((seg): { seg: InventorySegment; label: Label } => {
    if (keepAllWal) return { seg, label: keepAllWal };
    const from = neededFrom.get(seg.timeline);
    if (from !== undefined && seg.endLsn > from) return { seg, label: 'needed-by-retained-backup' };
    if (seg.archivedAt !== undefined && seg.archivedAt >= windowStart) return { seg, label: 'archived-inside-window' };
    return { seg, label: from === undefined ? 'timeline-not-reachable' : 'before-oldest-retained-backup' };
  });
  const deleteWal: WalDeletion[] = [];
  const keepWal: WalKept[] = [];
  for (const run of contiguousRuns(labelled)) {
    if (run.label === 'before-oldest-retained-backup' || run.label === 'timeline-not-reachable') deleteWal.push({ ...run.range, reason: run.label, segments: run.segments });
    else keepWal.push({ ...run.range, reason: run.label });
  }

  // A history file stays while anything on its timeline or a descendant stays.
  const keptTimelines = new Set<TimelineId>([...keepWal.map((r) => r.timeline), ...inventory.backups.filter((b) => keep.has(b.id) && b.timeline !== null).map((b) => b.timeline!)]);
  const keepHistories: HistoryDecision[] = [];
  const deleteHistories: TimelineId[] = [];
  for (const h of [...inventory.histories].sort((a, b) => a.timeline - b.timeline)) {
    const user = [...keptTimelines].sort((a, b) => a - b).find((t) => graph.descendsFrom(t, h.timeline));
    if (keepAllWal) keepHistories.push({ timeline: h.timeline, keep: true, reason: keepAllWal });
    else if (user !== undefined) keepHistories.push({ timeline: h.timeline, keep: true, reason: user === h.timeline ? 'timeline still in use' : `descendant timeline ${user} still in use` });
    else deleteHistories.push(h.timeline);
  }

  return {
    now,
    windowStart,
    deleteBackups,
    keepBackups,
    deleteWal,
    keepWal,
    deleteHistories,
    keepHistories,
    walNeededFrom: Object.fromEntries([...neededFrom].sort((a, b) => a[0] - b[0])),
  };
}
