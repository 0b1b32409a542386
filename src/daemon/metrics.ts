import type { Counter, Gauge, Labels, MetricsRegistry } from '../api/index.js';
import type { ReceiverStatus } from '../receiver/index.js';
import { parseLsn } from '../wal/index.js';

/** LSNs as plain numbers: exact up to 2^53 bytes (8 PiB of WAL), plenty for a gauge. */
function lsnNumber(lsn: string | null): number {
  return lsn === null ? 0 : Number(parseLsn(lsn));
}

/**
 * Removes the series of databases that were reported by the previous collection but not by this
 * one (a receiver stopped, a database was unregistered), so no stale value is scraped. Call it
 * once per collection with every label set just reported.
 */
function staleSeriesSweeper(gauges: ReadonlyArray<Gauge | Counter>): (reported: readonly Labels[]) => void {
  let previous = new Set<string>();
  return (reported) => {
    const seen = new Set(reported.map((l) => JSON.stringify(l)));
    for (const k of previous) {
      if (seen.has(k)) continue;
      const l = JSON.parse(k) as Labels;
      for (const g of gauges) g.remove(l);
    }
    previous = seen;
  };
}

/**
 * Receiver gauges, refreshed from each running receiver's status before every scrape. Series of
 * receivers that stopped are removed, so a disabled database does not report stale positions.
 */
export function registerReceiverMetrics(metrics: MetricsRegistry, receivers: () => Array<{ project: string; name: string; status: ReceiverStatus }>): void {
  const labels = ['project', 'database'];
  const g = {
    up: metrics.gauge('pitrd_receiver_up', '1 while the WAL receiver is streaming, 0 while it is starting, reconnecting or failing', labels),
    bytes: metrics.counter('pitrd_receiver_received_bytes_total', 'WAL bytes received since the receiver started', labels),
    flushed: metrics.gauge('pitrd_receiver_flushed_lsn', 'Last durable (fsynced or stored) WAL position, as a byte number', labels),
    uploaded: metrics.gauge('pitrd_receiver_uploaded_lsn', 'End of the last WAL segment stored in the repository, as a byte number', labels),
    lag: metrics.gauge('pitrd_receiver_lag_seconds', 'Seconds the flushed position is behind the server', labels),
    backlogSegments: metrics.gauge('pitrd_receiver_upload_backlog_segments', 'Complete segments spooled but not yet in the repository', labels),
    backlogBytes: metrics.gauge('pitrd_receiver_upload_backlog_bytes', 'Bytes of complete segments spooled but not yet in the repository', labels),
    segments: metrics.counter('pitrd_receiver_segments_archived_total', 'WAL segments archived since the receiver started', labels),
    errors: metrics.counter('pitrd_receiver_errors_total', 'Connection and upload failures since the receiver started', labels),
    lost: metrics.gauge('pitrd_receiver_wal_lost_bytes', 'WAL bytes lost before they were archived (never durable here, no longer on the server): the status gap; 0 when none', labels),
    failingSeconds: metrics.gauge('pitrd_receiver_upload_failing_seconds', 'Seconds WAL uploads have been failing without a success in between (0 while they succeed)', labels),
    failures: metrics.gauge('pitrd_receiver_upload_consecutive_failures', 'Failed upload attempts since the last successful one', labels),
  };
  const sweep = staleSeriesSweeper(Object.values(g));
  metrics.collect(() => {
    const reported: Labels[] = [];
    for (const r of receivers()) {
      const l: Labels = { project: r.project, database: r.name };
      reported.push(l);
      const s = r.status;
      g.up.set(l, s.status === 'running' ? 1 : 0);
      g.bytes.setTotal(l, s.bytes_received);
      g.flushed.set(l, lsnNumber(s.last_flushed_lsn));
      g.uploaded.set(l, lsnNumber(s.last_uploaded_lsn));
      g.lag.set(l, s.lag_seconds);
      g.backlogSegments.set(l, s.upload_backlog.segments);
      g.backlogBytes.set(l, s.upload_backlog.bytes);
      g.segments.setTotal(l, s.segments_archived);
      g.errors.setTotal(l, s.errors);
      g.lost.set(l, s.gap ? lsnNumber(s.gap.to) - lsnNumber(s.gap.from) : 0);
      const failing = s.upload_error;
      g.failingSeconds.set(l, failing ? Math.max(0, (Date.now() - Date.parse(failing.since)) / 1000) : 0);
      g.failures.set(l, failing?.consecutive_failures ?? 0);
    }
    sweep(reported);
  });
}

/** Base backup gauges: age of the newest completed backup, and whether one is running. */
export function registerBackupMetrics(
  metrics: MetricsRegistry,
  observe: () => Promise<Array<{ project: string; name: string; running: boolean; lastCompletedAt: number | null }>>,
): void {
  const labels = ['project', 'database'];
  const age = metrics.gauge('pitrd_last_backup_age_seconds', 'Seconds since the newest completed base backup reached consistency (absent: none yet)', labels);
  const running = metrics.gauge('pitrd_backup_running', '1 while a base backup of the database runs', labels);
  const sweep = staleSeriesSweeper([age, running]);
  metrics.collect(async () => {
    const reported: Labels[] = [];
    const now = Date.now();
    for (const d of await observe()) {
      const l: Labels = { project: d.project, database: d.name };
      reported.push(l);
      running.set(l, d.running ? 1 : 0);
      if (d.lastCompletedAt === null) age.remove(l);
      else age.set(l, Math.max(0, (now - d.lastCompletedAt) / 1000));
    }
    sweep(reported);
  });
}

/** One series per active alert (value 1); cleared alerts disappear. */
export function registerAlertMetrics(metrics: MetricsRegistry, alerts: () => Array<{ project?: string; database: string; kind: string; severity: string }>): void {
  const g = metrics.gauge('pitrd_alert_active', '1 for each active health alert', ['project', 'database', 'kind', 'severity']);
  let previous: Labels[] = [];
  metrics.collect(() => {
    for (const l of previous) g.remove(l);
    previous = alerts().map((a) => ({ project: a.project ?? '', database: a.database, kind: a.kind, severity: a.severity }));
    for (const l of previous) g.set(l, 1);
  });
}

/**
 * Values behind the health alerts, from the health monitor's last evaluation: WAL the server
 * retains for each database's slot, and segments missing from each archive. A value that is
 * unknown (no slot, nothing archived yet) has no series rather than a misleading 0.
 */
export function registerHealthMetrics(
  metrics: MetricsRegistry,
  measurements: () => Array<{ project: string; database: string; slotRetainedBytes: number | null; archiveGapSegments: number | null }>,
): void {
  const labels = ['project', 'database'];
  const retained = metrics.gauge('pitrd_slot_retained_bytes', 'Bytes of WAL the server retains for the replication slot (current WAL position - restart_lsn)', labels);
  const gap = metrics.gauge('pitrd_archive_gap_segments', 'WAL segments a restore needs that are missing from the archive (0: continuous)', labels);
  const sweep = staleSeriesSweeper([retained, gap]);
  metrics.collect(() => {
    const reported: Labels[] = [];
    for (const m of measurements()) {
      const l: Labels = { project: m.project, database: m.database };
      reported.push(l);
      if (m.slotRetainedBytes === null) retained.remove(l);
      else retained.set(l, m.slotRetainedBytes);
      if (m.archiveGapSegments === null) gap.remove(l);
      else gap.set(l, m.archiveGapSegments);
    }
    sweep(reported);
  });
}

/**
 * Restore drills (src/service/drills.ts): when the newest successful drill finished, and the phase
 * durations of the newest finished one (phase fetch, extract, replay, checks, and total = the
 * measured recovery time, fetch + extract + replay). A database without such a drill has no series.
 */
export function registerDrillMetrics(
  metrics: MetricsRegistry,
  observe: () => Promise<Array<{ project: string; database: string; lastSuccessAt: number | null; last: { phases: Record<string, number | null>; rto_seconds: number | null } | null }>>,
): void {
  const labels = ['project', 'database'];
  const success = metrics.gauge('pitrd_drill_last_success_timestamp_seconds', 'Unix time the newest successful restore drill of the database finished', labels);
  const duration = metrics.gauge('pitrd_drill_duration_seconds', 'Seconds each phase of the newest finished restore drill took (phase fetch, extract, replay, checks; rto = fetch + extract + replay)', [...labels, 'phase']);
  let previous: Labels[] = [];
  metrics.collect(async () => {
    // Drill records are read from the repository: while storage is down the scrape keeps the last
    // series instead of failing /metrics as a whole (the outage has its own alert and gauge).
    let observed: Awaited<ReturnType<typeof observe>>;
    try {
      observed = await observe();
    } catch {
      return;
    }
    for (const l of previous) {
      success.remove(l);
      duration.remove(l);
    }
    previous = [];
    for (const d of observed) {
      const l: Labels = { project: d.project, database: d.database };
      if (d.lastSuccessAt !== null) {
        success.set(l, d.lastSuccessAt / 1000);
        previous.push(l);
      }
      if (d.last === null) continue;
      const phases: Array<[string, number | null]> = [...Object.entries(d.last.phases), ['rto', d.last.rto_seconds]];
      for (const [phase, v] of phases) {
        if (v === null) continue;
        const pl = { ...l, phase };
        duration.set(pl, v);
        previous.push(pl);
      }
    }
  });
}
