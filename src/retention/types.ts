import type { Lsn, TimelineId } from '../types.js';
import type { TimelineHistory } from '../wal/index.js';

/**
 * The inventory retention decides over: everything planExpiry() needs, nothing it must fetch.
 * Times are epoch milliseconds; LSNs are bigint. loadInventory() builds one from the repository.
 */
export type InventoryBackupStatus = 'pending' | 'running' | 'completed' | 'failed' | 'interrupted';

export interface InventoryBackup {
  id: string;
  status: InventoryBackupStatus;
  /** When the record was created: the age of a failed backup that never reached a stop point. */
  createdAt: number;
  timeline: TimelineId | null;
  startLsn: Lsn | null;
  stopLsn: Lsn | null;
  /** Consistency point: restorable to any time at or after this. */
  stopTime: number | null;
  pinned: boolean;
  /** An explicit "keep until" time, or null. */
  expiresAt: number | null;
}

export interface InventorySegment {
  timeline: TimelineId;
  name: string;
  /** First byte of the segment. */
  startLsn: Lsn;
  /** First byte after the segment. */
  endLsn: Lsn;
  /** When it reached the repository, if known (a recent upload is never expired). */
  archivedAt?: number;
}

export interface InventoryRestore {
  id: string;
  status: 'pending' | 'running' | 'completed' | 'failed';
  /** The backup it restores from; null while it is still choosing. */
  backupId: string | null;
}

export interface Inventory {
  backups: InventoryBackup[];
  segments: InventorySegment[];
  /** History files of the timelines that have one (src/wal's parse). */
  histories: TimelineHistory[];
  restores: InventoryRestore[];
}

export interface RetentionPolicy {
  /** The recovery window: every time in [now - retentionDays, now] stays restorable. */
  retentionDays: number;
  /** Never fewer completed full backups than this, whatever their age. */
  minFullBackups: number;
}

export type BackupKeepReason =
  | 'pinned'
  | 'running'
  | 'restore-in-progress'
  | 'restore-choosing-backup'
  | 'inside-window'
  | 'window-anchor'
  | 'min-full-backups'
  | 'not-yet-expired'
  | 'failed-inside-window'
  | 'incomplete-record';

export type BackupDeleteReason = 'older-than-window' | 'failed-older-than-window';

export interface PlannedBackup {
  id: string;
  status: InventoryBackupStatus;
  stopLsn: Lsn | null;
  stopTime: number | null;
}

export interface BackupDeletion extends PlannedBackup {
  reason: BackupDeleteReason;
}

export interface BackupKept extends PlannedBackup {
  reasons: BackupKeepReason[];
}

/** A contiguous run of segments of one timeline, by LSN. */
export interface SegmentRange {
  timeline: TimelineId;
  first: string;
  last: string;
  count: number;
  /** [startLsn of first, endLsn of last) */
  startLsn: Lsn;
  endLsn: Lsn;
}

export interface WalDeletion extends SegmentRange {
  reason: 'before-oldest-retained-backup' | 'timeline-not-reachable';
  segments: string[];
}

export interface WalKept extends SegmentRange {
  reason: 'needed-by-retained-backup' | 'archived-inside-window' | 'no-retained-backup' | 'restore-choosing-backup';
}

export interface HistoryDecision {
  timeline: TimelineId;
  keep: boolean;
  reason: string;
}

export interface ExpiryPlan {
  now: number;
  /** now - retentionDays. */
  windowStart: number;
  deleteBackups: BackupDeletion[];
  keepBackups: BackupKept[];
  deleteWal: WalDeletion[];
  keepWal: WalKept[];
  deleteHistories: TimelineId[];
  keepHistories: HistoryDecision[];
  /** Per timeline: the lowest LSN still needed (absent = nothing on it is needed). */
  walNeededFrom: Record<number, Lsn>;
}
