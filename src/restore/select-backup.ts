import { PitrdError } from '../errors.js';
import type { BackupRecord } from '../repository/index.js';
import { formatLsn, parseLsn } from '../wal/index.js';
import type { RecoveryTarget } from './target.js';

/**
 * Pure choice of the base backup to restore from: the newest completed backup whose
 * consistency point (stop time / stop LSN) precedes the target, on the target's lineage
 * (`timelines` = the target timeline and its ancestors; null = any).
 */
export function selectBackup(backups: readonly BackupRecord[], target: RecoveryTarget, timelines: ReadonlySet<number> | null, restorePointLsn?: bigint): BackupRecord {
  const usable = backups.filter((b) => b.status === 'completed' && b.stop_lsn !== null && b.stop_time !== null && b.timeline !== null && (timelines === null || timelines.has(b.timeline)));
  if (usable.length === 0) {
    throw new PitrdError('BACKUP_NOT_FOUND', `no completed base backup to restore from${timelines ? ` on timelines ${[...timelines].join(', ')}` : ''}`, { context: {} });
  }
  const byStopLsn = [...usable].sort((a, b) => cmp(parseLsn(a.stop_lsn!), parseLsn(b.stop_lsn!)));
  if (target.kind === 'time') {
    const t = Date.parse(target.time);
    const byTime = [...usable].sort((a, b) => Date.parse(a.stop_time!) - Date.parse(b.stop_time!));
    const fit = byTime.filter((b) => Date.parse(b.stop_time!) <= t);
    if (fit.length === 0) {
      const earliest = byTime[0]!.stop_time!;
      throw new PitrdError('TARGET_TIME_INVALID', `recovery target time ${target.time} is before the earliest recoverable time ${earliest} (the consistency point of the oldest base backup, ${byTime[0]!.id})`, {
        context: { target_time: target.time, earliest_time: earliest, backup: byTime[0]!.id },
      });
    }
    return fit[fit.length - 1]!;
  }
  if (target.kind === 'lsn') {
    const l = parseLsn(target.lsn);
    const fit = byStopLsn.filter((b) => parseLsn(b.stop_lsn!) <= l);
    if (fit.length === 0) {
      const earliest = byStopLsn[0]!;
      throw new PitrdError('TARGET_TIME_INVALID', `recovery target LSN ${target.lsn} is before the earliest recoverable LSN ${earliest.stop_lsn} (time ${earliest.stop_time}, the consistency point of the oldest base backup, ${earliest.id})`, {
        context: { target_lsn: target.lsn, earliest_lsn: earliest.stop_lsn, earliest_time: earliest.stop_time, backup: earliest.id },
      });
    }
    return fit[fit.length - 1]!;
  }
  if (target.kind === 'name' && restorePointLsn !== undefined) {
    // The restore point's LSN (from the WAL summaries): replay must reach consistency before it.
    const fit = byStopLsn.filter((b) => parseLsn(b.stop_lsn!) <= restorePointLsn);
    if (fit.length === 0) {
      const earliest = byStopLsn[0]!;
      throw new PitrdError('TARGET_TIME_INVALID', `restore point "${target.name}" (LSN ${formatLsn(restorePointLsn)}) is before the earliest recoverable LSN ${earliest.stop_lsn} (the consistency point of the oldest base backup, ${earliest.id})`, {
        context: { target_name: target.name, target_lsn: formatLsn(restorePointLsn), earliest_lsn: earliest.stop_lsn, backup: earliest.id },
      });
    }
    return fit[fit.length - 1]!;
  }
  // latest / immediate / xid, or a name not in the summaries: nothing to compare without a WAL index; the newest backup
  // replays the least WAL. (A restore point or xid older than it needs --backup.)
  return byStopLsn[byStopLsn.length - 1]!;
}

function cmp(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
