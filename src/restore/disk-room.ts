/**
 * Will a restore fit? Checked before anything is written, with the figures in the refusal: a
 * restore that fills the disk halfway through breaks more than itself (the daemon's spool, the
 * other restores, the host).
 */
import { existsSync, statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import { PitrdError } from '../errors.js';
import type { BackupRecord } from '../repository/index.js';

/**
 * WAL a restore keeps in pg_wal at most, about: replayed segments are recycled at restartpoints,
 * which PostgreSQL spaces by max_wal_size (1 GB by default). Counting every segment of a long
 * archive would refuse restores that fit.
 */
const WAL_HELD_MAX = 1024 ** 3;

export interface DiskNeed {
  /** The base backup unpacked. */
  base: number;
  /** WAL that may sit in pg_wal while it is replayed. */
  wal: number;
  /** What must stay free afterwards (config restores.min_free_bytes). */
  reserve: number;
  total: number;
}

/** Pure: the estimate from the backup record and the number of WAL segments to replay. */
export function diskNeed(backup: BackupRecord, walSegments: number, segmentSize: number, reserve: number): DiskNeed {
  const base = backup.original_size ?? backup.files.reduce((n, f) => n + f.size, 0);
  const wal = Math.min(walSegments * segmentSize, WAL_HELD_MAX);
  return { base, wal, reserve, total: base + wal + reserve };
}

/** Bytes an unprivileged writer may still use on the file system holding `path` (or its nearest existing parent). */
export function freeBytes(path: string): number {
  let d = path;
  while (!existsSync(d) && dirname(d) !== d) d = dirname(d);
  const s = statfsSync(d);
  return Number(s.bavail) * Number(s.bsize);
}

const mb = (n: number) => `${(n / 1024 ** 2).toFixed(1)} MiB`;

/** INSUFFICIENT_DISK_SPACE with the figures when `need` does not fit where `targetDir` goes. */
export function assertDiskRoom(targetDir: string, need: DiskNeed): void {
  const free = freeBytes(targetDir);
  if (free >= need.total) return;
  // Figures only (no path): the client may read them although the status is a 5xx.
  const message = `not enough free disk for this restore: it needs about ${mb(need.total)} (base backup unpacked ${mb(need.base)} + WAL held during replay ${mb(need.wal)} + reserve ${mb(need.reserve)}), the restore directory's file system has ${mb(free)} free`;
  throw new PitrdError('INSUFFICIENT_DISK_SPACE', message, {
    public: message,
    context: { needed_bytes: need.total, free_bytes: free, base_bytes: need.base, wal_bytes: need.wal, reserve_bytes: need.reserve },
  });
}
