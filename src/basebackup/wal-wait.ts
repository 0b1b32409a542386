/**
 * pgBackRest's archive check: a backup taken without its WAL is only a recovery starting point
 * once every segment from its start LSN to its stop LSN is in the repository. Wait for that,
 * asking the WAL archive (the receiver's), or fail with WAL_NOT_ARCHIVED naming the segment.
 */
import { PitrdError } from '../errors.js';
import { formatLsn } from '../wal/lsn.js';
import { segmentsBetween, type WalRange } from './metadata.js';

export type IsWalArchived = (timeline: number, segmentName: string) => Promise<boolean>;

export interface WalWaitOptions {
  ranges: WalRange[];
  walSegmentSize: number;
  isWalArchived: IsWalArchived;
  timeoutMs: number;
  pollMs?: number;
  signal?: AbortSignal;
  backupId: string;
}

/** Every segment the ranges need, as (timeline, name), in replay order. */
export function neededSegments(ranges: WalRange[], walSegmentSize: number): Array<{ timeline: number; name: string }> {
  return ranges.flatMap((r) => segmentsBetween(r.timeline, r.startLsn, r.endLsn, walSegmentSize).map((name) => ({ timeline: r.timeline, name })));
}

export async function waitForWalArchived(opts: WalWaitOptions): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  const poll = opts.pollMs ?? 500;
  for (const seg of neededSegments(opts.ranges, opts.walSegmentSize)) {
    for (;;) {
      if (opts.signal?.aborted) throw new PitrdError('BACKUP_FAILED', `backup ${opts.backupId} interrupted while waiting for WAL`, { context: { backup: opts.backupId } });
      if (await opts.isWalArchived(seg.timeline, seg.name)) break;
      if (Date.now() >= deadline) {
        const r = opts.ranges[0]!;
        throw new PitrdError(
          'WAL_NOT_ARCHIVED',
          `backup ${opts.backupId}: WAL segment ${seg.name} (timeline ${seg.timeline}), needed to replay from ${formatLsn(r.startLsn)} to ${formatLsn(opts.ranges[opts.ranges.length - 1]!.endLsn)}, was not archived within ${Math.round(opts.timeoutMs / 1000)} s; is WAL archiving (the receiver) running for this database?`,
          { context: { backup: opts.backupId, timeline: seg.timeline, segment: seg.name }, retryable: true },
        );
      }
      await new Promise((r) => setTimeout(r, poll));
    }
  }
}
