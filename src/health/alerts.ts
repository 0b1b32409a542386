/**
 * Health alerts for the daemon (pure). evaluateHealth() turns one observation of a database into
 * the conditions that are true now; diffAlerts() compares them with the previous active set and
 * yields state changes, so a webhook is called once when a condition appears and once when it
 * goes — not on every evaluation.
 */

export type AlertKind = 'archive_gap' | 'wal_lost' | 'upload_backlog' | 'upload_failing' | 'storage_unavailable' | 'spool_full' | 'slot_retention' | 'backup_stale' | 'receiver_down' | 'binaries_missing' | 'drill_failed' | 'drill_stale';

/** Missing WAL in the archive: the first (oldest) run of missing segments, and how many in all. */
export interface ArchiveGap {
  timeline: number;
  /** First and last missing segment of the oldest gap, named on the timeline a restore reads them from. */
  missingFrom: string;
  missingTo: string;
  /** Missing segments in every gap of the database (at least those of this range when absent). */
  missingSegments?: number;
  /** Completed backups whose recovery the gap cuts short. */
  backups?: string[];
}

export interface HealthObservation {
  /** The database's project: names are unique per project only, so alerts are keyed by both. */
  project?: string;
  database: string;
  /** Missing segments in the archived WAL, or null. */
  archiveGap: ArchiveGap | null;
  /** Bytes of complete segments in the spool not yet uploaded. */
  uploadBacklogBytes: number;
  /** Bytes of WAL the server keeps for the slot (pg_current_wal_lsn - restart_lsn), null if unknown. */
  slotRetainedBytes: number | null;
  /**
   * Stop time of the newest completed backup (epoch ms), null if none; undefined when it could
   * not be read (storage unavailable): then nothing is concluded about backups.
   */
  lastSuccessfulBackupAt: number | null | undefined;
  receiverUp: boolean;
  /** The receiver's last error while it is not up (e.g. POSTGRES_VERSION_UNSUPPORTED), or null. */
  receiverError?: { code: string; message: string } | null;
  /**
   * WAL the receiver found lost when it started (never archived nor durable in its spool, and the
   * slot already past it on the server): the receiver status's `gap`. Absent or null: none.
   */
  receiverGap?: { from: string; to: string } | null;
  /** Why the receiver paused: its spool reached spool.max_bytes (or the disk is full), or null. */
  spoolFull?: string | null;
  /** Why the repository could not be read for this evaluation (a listing failed), or null. */
  storageError?: string | null;
  /** Since when (epoch ms) uploads of this database's WAL have been failing, or null. */
  uploadFailingSince?: number | null;
  /** Failed upload attempts in a row (for the alert's details). */
  uploadFailures?: number;
  /** The last upload error's code and message, when uploads are failing. */
  uploadError?: { code: string; message: string } | null;
  /** Why this host cannot run the database's PostgreSQL major (POSTGRES_BINARIES_MISSING's text); null or absent when it can or the major is not known yet. */
  binariesMissing?: string | null;
  /** Restore drills of the database (src/service/drills.ts); absent: not evaluated. */
  drill?: DrillHealth | null;
}

/** What the health evaluation needs of a database's restore drills. */
export interface DrillHealth {
  /** The newest finished drill, when it failed; null when it succeeded or there is none. */
  lastFailed: { id: string; backupId: string | null; at: string; phase: string | null; object: string | null; code: string | null; message: string | null } | null;
  /** When the newest successful drill finished (epoch ms), null if none. */
  lastSuccessAt: number | null;
  /** No successful drill for longer than this raises drill_stale; null: not watched. */
  maxAgeMs: number | null;
}

export interface HealthThresholds {
  uploadBacklogBytes: number;
  slotRetainedBytes: number;
  backupMaxAgeMs: number;
  /** Uploads failing for longer than this raise upload_failing (default DEFAULT_UPLOAD_FAILURE_MS). */
  uploadFailureMs?: number;
}

/** Five minutes: a few retries with backoff, far less than the 256 MiB a busy server fills. */
export const DEFAULT_UPLOAD_FAILURE_MS = 300_000;

export interface Alert {
  /** Stable identity: kind + database. */
  key: string;
  kind: AlertKind;
  project?: string;
  database: string;
  severity: 'warning' | 'critical';
  message: string;
  /** When the condition was first seen (epoch ms). */
  since: number;
  /** Machine-readable facts behind the message (webhook receivers need not parse the text). */
  details?: Record<string, unknown>;
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
  const add = (kind: AlertKind, severity: Alert['severity'], message: string, details?: Record<string, unknown>) =>
    out.push({ key: `${obs.project === undefined ? '' : `${obs.project}/`}${obs.database}:${kind}`, kind, ...(obs.project === undefined ? {} : { project: obs.project }), database: obs.database, severity, message, since: now, ...(details ? { details } : {}) });
  if (obs.archiveGap) add('archive_gap', 'critical', archiveGapMessage(obs.database, obs.archiveGap), archiveGapDetails(obs.archiveGap));
  if (obs.receiverGap) {
    add('wal_lost', 'critical', `database "${obs.database}": WAL from ${obs.receiverGap.from} to ${obs.receiverGap.to} was lost before it was archived (the server no longer has it); no restore can cross it`, {
      from: obs.receiverGap.from,
      to: obs.receiverGap.to,
    });
  }
  if (obs.uploadBacklogBytes > th.uploadBacklogBytes) {
    add('upload_backlog', 'warning', `database "${obs.database}": ${mib(obs.uploadBacklogBytes)} of WAL waiting for upload (threshold ${mib(th.uploadBacklogBytes)})`, {
      backlog_bytes: obs.uploadBacklogBytes,
      threshold_bytes: th.uploadBacklogBytes,
    });
  }
  const failLimit = th.uploadFailureMs ?? DEFAULT_UPLOAD_FAILURE_MS;
  if (obs.uploadFailingSince != null && now - obs.uploadFailingSince >= failLimit) {
    const secs = Math.round((now - obs.uploadFailingSince) / 1000);
    add('upload_failing', 'critical', `database "${obs.database}": WAL uploads have been failing for ${secs} s (threshold ${Math.round(failLimit / 1000)} s)${obs.uploadError ? `: ${obs.uploadError.code}: ${obs.uploadError.message}` : ''}; the WAL waits in the spool`, {
      failing_since: new Date(obs.uploadFailingSince).toISOString(),
      failing_seconds: secs,
      consecutive_failures: obs.uploadFailures ?? null,
      threshold_seconds: Math.round(failLimit / 1000),
      ...(obs.uploadError ? { code: obs.uploadError.code, error: obs.uploadError.message } : {}),
    });
  }
  if (obs.binariesMissing) add('binaries_missing', 'warning', `database "${obs.database}": restores and branches will be refused: ${obs.binariesMissing}`);
  if (obs.spoolFull) add('spool_full', 'critical', `database "${obs.database}": ${obs.spoolFull}`);
  if (obs.storageError) add('storage_unavailable', 'critical', `database "${obs.database}": storage unavailable: ${obs.storageError}`, { error: obs.storageError });
  if (obs.slotRetainedBytes !== null && obs.slotRetainedBytes > th.slotRetainedBytes) {
    add('slot_retention', 'warning', `database "${obs.database}": replication slot retains ${mib(obs.slotRetainedBytes)} of WAL on the server (threshold ${mib(th.slotRetainedBytes)})`, {
      retained_bytes: obs.slotRetainedBytes,
      threshold_bytes: th.slotRetainedBytes,
    });
  }
  // Unknown (the listing failed) says nothing about backups: storage_unavailable says why.
  if (obs.lastSuccessfulBackupAt === undefined) {
    /* not evaluated */
  } else if (obs.lastSuccessfulBackupAt === null) add('backup_stale', 'warning', `database "${obs.database}": no successful base backup yet`);
  else if (now - obs.lastSuccessfulBackupAt > th.backupMaxAgeMs) {
    add('backup_stale', 'warning', `database "${obs.database}": last successful base backup finished ${new Date(obs.lastSuccessfulBackupAt).toISOString()}, older than ${Math.round(th.backupMaxAgeMs / 3_600_000)} h`);
  }
  const d = obs.drill;
  if (d?.lastFailed) {
    const f = d.lastFailed;
    const where = `${f.phase !== null ? ` in phase ${f.phase}` : ''}${f.object !== null ? ` on ${f.object}` : ''}`;
    add('drill_failed', 'critical', `database "${obs.database}": restore drill ${f.id}${f.backupId !== null ? ` of backup ${f.backupId}` : ''} failed${where}${f.code !== null ? `: ${f.code}` : ''}${f.message !== null ? `: ${f.message}` : ''}`, {
      drill_id: f.id,
      backup_id: f.backupId,
      finished_at: f.at,
      phase: f.phase,
      object: f.object,
      code: f.code,
    });
  }
  if (d && d.maxAgeMs !== null && (d.lastSuccessAt === null || now - d.lastSuccessAt > d.maxAgeMs)) {
    const hours = Math.round(d.maxAgeMs / 3_600_000);
    add('drill_stale', 'warning', d.lastSuccessAt === null ? `database "${obs.database}": no restore drill has succeeded yet (drill.max_age_hours ${hours})` : `database "${obs.database}": the last successful restore drill finished ${new Date(d.lastSuccessAt).toISOString()}, more than ${hours} h ago (drill.max_age_hours)`, {
      last_success_at: d.lastSuccessAt === null ? null : new Date(d.lastSuccessAt).toISOString(),
      max_age_hours: hours,
    });
  }
  if (!obs.receiverUp) {
    const why = obs.receiverError ? `: ${obs.receiverError.code}: ${obs.receiverError.message}` : '';
    add('receiver_down', 'critical', `database "${obs.database}": WAL receiver is not streaming${why}`, obs.receiverError ? { code: obs.receiverError.code, error: obs.receiverError.message } : undefined);
  }
  return out;
}

function archiveGapMessage(database: string, g: ArchiveGap): string {
  const what = g.missingFrom === g.missingTo ? `WAL segment ${g.missingFrom} is missing` : `WAL segments ${g.missingFrom} to ${g.missingTo} are missing`;
  const total = g.missingSegments !== undefined && g.missingSegments > 1 ? ` (${g.missingSegments} segments missing in all)` : '';
  const cut = g.backups?.length ? `recovery from backup ${g.backups.join(', ')} stops before it` : 'no restore can cross it';
  return `database "${database}": WAL archive has a gap on timeline ${g.timeline}: ${what}${total}; ${cut}`;
}

function archiveGapDetails(g: ArchiveGap): Record<string, unknown> {
  return { timeline: g.timeline, missing_from: g.missingFrom, missing_to: g.missingTo, ...(g.missingSegments !== undefined ? { segments_missing: g.missingSegments } : {}), backups: g.backups ?? [] };
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
