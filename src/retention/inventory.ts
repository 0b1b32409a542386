import { loadHistories } from '../catalog/index.js';
import { PitrdError } from '../errors.js';
import type { BackupRecord, DatabaseRepository, RestoreRecord } from '../repository/index.js';
import { DEFAULT_WAL_SEGMENT_SIZE, parseLsn, parseSegmentName, segmentStartLsn } from '../wal/index.js';
import type { Inventory, InventoryBackup, InventoryRestore, InventorySegment } from './types.js';

const time = (s: string | null): number | null => (s === null ? null : Date.parse(s));

export function toInventoryBackup(r: BackupRecord): InventoryBackup {
  return {
    id: r.id,
    status: r.status,
    createdAt: Date.parse(r.created_at),
    timeline: r.timeline,
    startLsn: r.start_lsn === null ? null : parseLsn(r.start_lsn),
    stopLsn: r.stop_lsn === null ? null : parseLsn(r.stop_lsn),
    stopTime: time(r.stop_time),
    pinned: r.pinned,
    expiresAt: time(r.expires_at),
  };
}

export function toInventoryRestore(r: RestoreRecord): InventoryRestore {
  return { id: r.id, status: r.status, backupId: r.backup_id };
}

/** Store keys of a listed segment: its commit marker and its object (for batched deletion). */
export interface WalObjectKeys {
  markerKey: string;
  objectKey: string;
}

export const walObjectId = (timeline: number, name: string) => `${timeline}/${name}`;

/**
 * Read everything retention decides over from one database's repository. The segment size comes
 * from database.json (segment names mean different LSNs for different sizes).
 */
export async function loadInventory(db: DatabaseRepository): Promise<{ inventory: Inventory; walSegmentSize: number; walObjects: Map<string, WalObjectKeys> }> {
  const info = await db.info();
  const walSegmentSize = info?.wal_segment_size ?? DEFAULT_WAL_SEGMENT_SIZE;
  const backups = (await db.backups.list()).map(toInventoryBackup);
  const restores = (await db.restores.list()).map(toInventoryRestore);
  const segments: InventorySegment[] = [];
  const walObjects = new Map<string, WalObjectKeys>();
  for await (const s of db.wal.listSegments()) {
    if (s.key !== undefined) walObjects.set(walObjectId(s.timeline, s.name), { markerKey: db.keys.segmentMarker(s.timeline, s.name, s.sha256, s.size), objectKey: s.key });
    const { segno } = parseSegmentName(s.name, walSegmentSize);
    segments.push({
      timeline: s.timeline,
      name: s.name,
      startLsn: segmentStartLsn(segno, walSegmentSize),
      endLsn: segmentStartLsn(segno + 1n, walSegmentSize),
      archivedAt: Date.parse(s.archived_at),
    });
  }
  const loaded = await loadHistories(db);
  // Deciding what to delete without knowing every timeline's ancestry could delete WAL a
  // descendant needs: an unreadable history file stops the run.
  const bad = loaded.broken[0];
  if (bad) throw new PitrdError('WAL_INVALID', bad.message, { context: { timeline: bad.timeline } });
  const histories = [...loaded.histories.values()];
  return { inventory: { backups, segments, histories, restores }, walSegmentSize, walObjects };
}
