import { describe, expect, it } from 'vitest';
import { diffAlerts, evaluateHealth, type HealthObservation } from '../../src/health/index.js';
import { policyFromConfig } from '../../src/retention/index.js';

const HOUR = 3_600_000;
const T0 = Date.parse('2026-06-30T12:00:00Z');
const th = { uploadBacklogBytes: 64 << 20, slotRetainedBytes: 1 << 30, backupMaxAgeMs: 26 * HOUR };
const healthy: HealthObservation = { database: 'app', archiveGap: null, uploadBacklogBytes: 0, slotRetainedBytes: 1 << 20, lastSuccessfulBackupAt: T0 - HOUR, receiverUp: true };

describe('evaluateHealth', () => {
  it('a healthy database has no alerts', () => {
    expect(evaluateHealth(healthy, th, T0)).toEqual([]);
  });

  it('raises each condition over its threshold', () => {
    const alerts = evaluateHealth(
      { ...healthy, archiveGap: { timeline: 1, missingFrom: '000000010000000000000005', missingTo: '000000010000000000000006' }, uploadBacklogBytes: 65 << 20, slotRetainedBytes: 2 * 2 ** 30, lastSuccessfulBackupAt: T0 - 27 * HOUR, receiverUp: false },
      th,
      T0,
    );
    expect(alerts.map((a) => [a.key, a.severity])).toEqual([
      ['app:archive_gap', 'critical'],
      ['app:upload_backlog', 'warning'],
      ['app:slot_retention', 'warning'],
      ['app:backup_stale', 'warning'],
      ['app:receiver_down', 'critical'],
    ]);
    expect(alerts[0]!.message).toContain('000000010000000000000005');
    expect(alerts[2]!.message).toContain('2048.0 MiB');
  });

  it('receiver_down says why the receiver is not streaming when it knows (e.g. an unsupported major)', () => {
    const err = { code: 'POSTGRES_VERSION_UNSUPPORTED', message: 'the source server (slot pitrd_x) runs PostgreSQL 19 (server_version_num 190000); pitrd supports PostgreSQL 13 to 18' };
    const [a] = evaluateHealth({ ...healthy, receiverUp: false, receiverError: err }, th, T0);
    expect(a).toMatchObject({ key: 'app:receiver_down', severity: 'critical', details: { code: err.code, error: err.message } });
    expect(a!.message).toBe(`database "app": WAL receiver is not streaming: ${err.code}: ${err.message}`);
    expect(evaluateHealth({ ...healthy, receiverUp: false }, th, T0)[0]!.message).toBe('database "app": WAL receiver is not streaming');
  });

  it('raises lost WAL the receiver reported as a critical wal_lost alert with its range', () => {
    const [a, ...rest] = evaluateHealth({ ...healthy, receiverGap: { from: '0/8000000', to: '0/9000000' } }, th, T0);
    expect(rest).toEqual([]);
    expect(a).toMatchObject({ key: 'app:wal_lost', severity: 'critical', details: { from: '0/8000000', to: '0/9000000' } });
    expect(a!.message).toContain('0/8000000');
  });

  it('exactly at a threshold is not an alert; no backup at all is', () => {
    expect(evaluateHealth({ ...healthy, uploadBacklogBytes: 64 << 20, slotRetainedBytes: 1 << 30, lastSuccessfulBackupAt: T0 - 26 * HOUR }, th, T0)).toEqual([]);
    expect(evaluateHealth({ ...healthy, slotRetainedBytes: null, lastSuccessfulBackupAt: null }, th, T0).map((a) => a.kind)).toEqual(['backup_stale']);
  });
});

describe('storage faults', () => {
  it('uploads failing longer than the threshold raise upload_failing, whatever the backlog', () => {
    const failing = { ...healthy, uploadFailingSince: T0 - 301_000, uploadFailures: 7, uploadError: { code: 'STORAGE_UNAVAILABLE', message: 'connect ECONNREFUSED' } };
    const [a, ...rest] = evaluateHealth(failing, th, T0);
    expect(rest).toEqual([]);
    expect(a).toMatchObject({ key: 'app:upload_failing', severity: 'critical', details: { failing_seconds: 301, consecutive_failures: 7, threshold_seconds: 300, code: 'STORAGE_UNAVAILABLE' } });
    expect(a!.message).toContain('STORAGE_UNAVAILABLE: connect ECONNREFUSED');
    // Not yet past the default 5 min, or past a lower configured one.
    expect(evaluateHealth({ ...failing, uploadFailingSince: T0 - 299_000 }, th, T0)).toEqual([]);
    expect(evaluateHealth({ ...failing, uploadFailingSince: T0 - 2_000 }, { ...th, uploadFailureMs: 1_000 }, T0).map((x) => x.kind)).toEqual(['upload_failing']);
  });

  it('a receiver paused on a full spool raises spool_full, not receiver_down', () => {
    const alerts = evaluateHealth({ ...healthy, spoolFull: 'the spool holds 3145728 bytes waiting for upload and spool.max_bytes is 4194304' }, th, T0);
    expect(alerts.map((a) => [a.key, a.severity])).toEqual([['app:spool_full', 'critical']]);
    expect(alerts[0]!.message).toBe('database "app": the spool holds 3145728 bytes waiting for upload and spool.max_bytes is 4194304');
  });

  it('an unreadable backup list is storage_unavailable, never "no successful base backup yet"', () => {
    const alerts = evaluateHealth({ ...healthy, lastSuccessfulBackupAt: undefined, storageError: 'STORAGE_UNAVAILABLE: connect ECONNREFUSED' }, th, T0);
    expect(alerts.map((a) => [a.kind, a.severity])).toEqual([['storage_unavailable', 'critical']]);
    expect(alerts[0]!.message).toBe('database "app": storage unavailable: STORAGE_UNAVAILABLE: connect ECONNREFUSED');
  });
});

describe('diffAlerts', () => {
  it('raises once, keeps the first time while active, clears once', () => {
    const down = evaluateHealth({ ...healthy, receiverUp: false }, th, T0);
    const first = diffAlerts([], down, T0);
    expect(first.changes.map((c) => [c.state, c.alert.key])).toEqual([['raised', 'app:receiver_down']]);

    const later = diffAlerts(first.active, evaluateHealth({ ...healthy, receiverUp: false }, th, T0 + 60_000), T0 + 60_000);
    expect(later.changes).toEqual([]);
    expect(later.active[0]!.since).toBe(T0);

    const both = diffAlerts(later.active, evaluateHealth({ ...healthy, receiverUp: false, uploadBacklogBytes: 100 << 20 }, th, T0 + 120_000), T0 + 120_000);
    expect(both.changes.map((c) => [c.state, c.alert.kind])).toEqual([['raised', 'upload_backlog']]);

    const recovered = diffAlerts(both.active, evaluateHealth(healthy, th, T0 + 180_000), T0 + 180_000);
    expect(recovered.active).toEqual([]);
    expect(recovered.changes.map((c) => [c.state, c.alert.kind, c.at])).toEqual([
      ['cleared', 'upload_backlog', T0 + 180_000],
      ['cleared', 'receiver_down', T0 + 180_000],
    ]);
  });
});

describe('policyFromConfig', () => {
  it('uses the longer of retention_days and max_age_days', () => {
    expect(policyFromConfig({ pitr: { enabled: true, retention_days: 7, synchronous: false }, retention: { schedule: '30 3 * * *', min_full_backups: 2 } })).toEqual({ retentionDays: 7, minFullBackups: 2 });
    expect(policyFromConfig({ pitr: { enabled: true, retention_days: 7, synchronous: false }, retention: { schedule: '30 3 * * *', min_full_backups: 3, max_age_days: 30 } })).toEqual({ retentionDays: 30, minFullBackups: 3 });
  });
});

describe('archive gap alert', () => {
  const gap = { timeline: 2, missingFrom: '000000020000000000000007', missingTo: '000000020000000000000007', missingSegments: 1, backups: ['bkp_1'] };

  it('names the missing segment and the backups it cuts, with the facts as details', () => {
    const [a] = evaluateHealth({ ...healthy, archiveGap: gap }, th, T0);
    expect(a).toMatchObject({ key: 'app:archive_gap', kind: 'archive_gap', severity: 'critical' });
    expect(a!.message).toBe('database "app": WAL archive has a gap on timeline 2: WAL segment 000000020000000000000007 is missing; recovery from backup bkp_1 stops before it');
    expect(a!.details).toEqual({ timeline: 2, missing_from: '000000020000000000000007', missing_to: '000000020000000000000007', segments_missing: 1, backups: ['bkp_1'] });
  });

  it('a range, more gaps after it, and no backup concerned', () => {
    const [a] = evaluateHealth({ ...healthy, archiveGap: { ...gap, missingTo: '000000020000000000000009', missingSegments: 5, backups: [] } }, th, T0);
    expect(a!.message).toBe(
      'database "app": WAL archive has a gap on timeline 2: WAL segments 000000020000000000000007 to 000000020000000000000009 are missing (5 segments missing in all); no restore can cross it',
    );
  });

  it('a gap that moves stays one alert (no second webhook call), with the newest details', () => {
    const first = diffAlerts([], evaluateHealth({ ...healthy, archiveGap: gap }, th, T0), T0);
    const moved = diffAlerts(first.active, evaluateHealth({ ...healthy, archiveGap: { ...gap, missingFrom: '000000020000000000000008', missingTo: '000000020000000000000008' } }, th, T0 + 1000), T0 + 1000);
    expect(moved.changes).toEqual([]);
    expect(moved.active[0]!.since).toBe(T0);
    expect(moved.active[0]!.details).toMatchObject({ missing_from: '000000020000000000000008' });
  });

  it('slot retention and upload backlog carry their measured bytes and thresholds', () => {
    const alerts = evaluateHealth({ ...healthy, slotRetainedBytes: (1 << 30) + 1, uploadBacklogBytes: 65 << 20 }, th, T0);
    expect(alerts.map((a) => [a.kind, a.details])).toEqual([
      ['upload_backlog', { backlog_bytes: 65 << 20, threshold_bytes: 64 << 20 }],
      ['slot_retention', { retained_bytes: (1 << 30) + 1, threshold_bytes: 1 << 30 }],
    ]);
  });
});
