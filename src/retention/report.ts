import { formatLsn } from '../wal/index.js';
import type { ExpiryPlan, SegmentRange } from './types.js';

/** The plan with LSNs as `X/Y` and times as ISO strings: what a report, a log line or the API shows. */
export interface ExpiryPlanJson {
  now: string;
  window_start: string;
  delete_backups: { id: string; status: string; stop_lsn: string | null; stop_time: string | null; reason: string }[];
  keep_backups: { id: string; status: string; stop_lsn: string | null; stop_time: string | null; reasons: string[] }[];
  delete_wal: (RangeJson & { reason: string })[];
  keep_wal: (RangeJson & { reason: string })[];
  delete_histories: number[];
  keep_histories: { timeline: number; reason: string }[];
  wal_needed_from: Record<string, string>;
}

interface RangeJson {
  timeline: number;
  first: string;
  last: string;
  count: number;
  start_lsn: string;
  end_lsn: string;
}

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
const range = (r: SegmentRange): RangeJson => ({ timeline: r.timeline, first: r.first, last: r.last, count: r.count, start_lsn: formatLsn(r.startLsn), end_lsn: formatLsn(r.endLsn) });

export function planToJson(plan: ExpiryPlan): ExpiryPlanJson {
  return {
    now: new Date(plan.now).toISOString(),
    window_start: new Date(plan.windowStart).toISOString(),
    delete_backups: plan.deleteBackups.map((b) => ({ id: b.id, status: b.status, stop_lsn: b.stopLsn === null ? null : formatLsn(b.stopLsn), stop_time: iso(b.stopTime), reason: b.reason })),
    keep_backups: plan.keepBackups.map((b) => ({ id: b.id, status: b.status, stop_lsn: b.stopLsn === null ? null : formatLsn(b.stopLsn), stop_time: iso(b.stopTime), reasons: b.reasons })),
    delete_wal: plan.deleteWal.map((r) => ({ ...range(r), reason: r.reason })),
    keep_wal: plan.keepWal.map((r) => ({ ...range(r), reason: r.reason })),
    delete_histories: plan.deleteHistories,
    keep_histories: plan.keepHistories.map((h) => ({ timeline: h.timeline, reason: h.reason })),
    wal_needed_from: Object.fromEntries(Object.entries(plan.walNeededFrom).map(([t, l]) => [t, formatLsn(l)])),
  };
}
