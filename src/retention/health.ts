/**
 * Health alerts for the daemon (pure). evaluateHealth() turns one observation of a database into
 * the conditions that are true now; diffAlerts() compares them with the previous active set and
 * yields state changes, so a webhook is called once when a condition appears and once when it
 * goes — not on every evaluation.
 */

export type AlertKind = 'archive_gap' | 'upload_backlog' | 'slot_retention' | 'backup_stale' | 'receiver_down';

export interface HealthObservation {
  database: string;
  /** A missing segment in the archived WAL, or null. */
  archiveGap: { timeline: number; missingFrom: string; missingTo: string } | null;
  /** Bytes of complete segments in the spool not yet uploaded. */
  uploadBacklogBytes: number;
  /** Bytes of WAL the server keeps for the slot (pg_current_wal_lsn - restart_lsn), null if unknown. */
  slotRetainedBytes: number | null;
  /** Stop time of the newest completed backup (epoch ms), null if none. */
  lastSuccessfulBackupAt: number | null;
  receiverUp: boolean;
}

export interface HealthThresholds {
  uploadBacklogBytes: number;
  slotRetainedBytes: number;
  backupMaxAgeMs: number;
}

export interface Alert {
  /** Stable identity: kind + database. */
  key: string;
  kind: AlertKind;
  database: string;
  severity: 'warning' | 'critical';
  message: string;
  /** When the condition was first seen (epoch ms). */
  since: number;
}

export interface AlertChange {
  state: 'raised' | 'cleared';
  alert: Alert;
  /** When the change was observed (epoch ms). */
  at: number;
}

const mib = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;

export function evaluateHealth(obs: HealthObservation, th: HealthThresholds, now: number): Alert[] {
  const out: Alert[] = [];
  const add = (kind: AlertKind, severity: Alert['severity'], message: string) =>
    out.push({ key: `${obs.database}:${kind}`, kind, database: obs.database, severity, message, since: now });
  if (obs.archiveGap) {
    const g = obs.archiveGap;
    add('archive_gap', 'critical', `database "${obs.database}": WAL archive has a gap on timeline ${g.timeline} from ${g.missingFrom} to ${g.missingTo}; no restore can cross it`);
  }
  if (obs.uploadBacklogBytes > th.uploadBacklogBytes) {
    add('upload_backlog', 'warning', `database "${obs.database}": ${mib(obs.uploadBacklogBytes)} of WAL waiting for upload (threshold ${mib(th.uploadBacklogBytes)})`);
  }
  if (obs.slotRetainedBytes !== null && obs.slotRetainedBytes > th.slotRetainedBytes) {
    add('slot_retention', 'warning', `database "${obs.database}": replication slot retains ${mib(obs.slotRetainedBytes)} of WAL on the server (threshold ${mib(th.slotRetainedBytes)})`);
  }
  if (obs.lastSuccessfulBackupAt === null) add('backup_stale', 'warning', `database "${obs.database}": no successful base backup yet`);
  else if (now - obs.lastSuccessfulBackupAt > th.backupMaxAgeMs) {
    add('backup_stale', 'warning', `database "${obs.database}": last successful base backup finished ${new Date(obs.lastSuccessfulBackupAt).toISOString()}, older than ${Math.round(th.backupMaxAgeMs / 3_600_000)} h`);
  }
  if (!obs.receiverUp) add('receiver_down', 'critical', `database "${obs.database}": WAL receiver is not streaming`);
  return out;
}

/**
 * The new active set and the changes from `previous` to `current`. An alert that stays active
 * keeps its first `since`; one that disappears is reported cleared (with its last details).
 * Only the alerts of databases present in `current`'s evaluation scope are compared, so pass the
 * previous alerts of the same database(s).
 */
export function diffAlerts(previous: readonly Alert[], current: readonly Alert[], now: number): { active: Alert[]; changes: AlertChange[] } {
  const prev = new Map(previous.map((a) => [a.key, a]));
  const cur = new Map(current.map((a) => [a.key, a]));
  const changes: AlertChange[] = [];
  const active: Alert[] = [];
  for (const a of current) {
    const before = prev.get(a.key);
    if (before) active.push({ ...a, since: before.since });
    else {
      active.push(a);
      changes.push({ state: 'raised', alert: a, at: now });
    }
  }
  for (const a of previous) if (!cur.has(a.key)) changes.push({ state: 'cleared', alert: a, at: now });
  return { active, changes };
}
