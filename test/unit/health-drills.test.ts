/** The restore-drill alerts (pure): drill_failed while the newest drill failed, drill_stale past the configured age. */
import { describe, expect, it } from 'vitest';
import { evaluateHealth, type HealthObservation } from '../../src/health/index.js';

const TH = { uploadBacklogBytes: 1e12, slotRetainedBytes: 1e12, backupMaxAgeMs: 1e12 };
const NOW = Date.parse('2026-12-04T12:00:00Z');
const obs = (drill: HealthObservation['drill']): HealthObservation => ({ project: 'p', database: 'main', archiveGap: null, uploadBacklogBytes: 0, slotRetainedBytes: null, lastSuccessfulBackupAt: NOW, receiverUp: true, drill });
const kinds = (o: HealthObservation) => evaluateHealth(o, TH, NOW).map((a) => a.kind);

describe('drill alerts', () => {
  it('drill_failed names the drill, backup, phase and object; none when the newest drill succeeded', () => {
    const failed = { id: 'drl_1', backupId: 'bkp_1', at: '2026-12-04T11:00:00Z', phase: 'replay', object: 'projects/p/databases/main/wal/00000001/000000010000000000000005.gz', code: 'RESTORE_FAILED', message: 'recovery ended early' };
    const [a] = evaluateHealth(obs({ lastFailed: failed, lastSuccessAt: null, maxAgeMs: null }), TH, NOW);
    expect(a).toMatchObject({ kind: 'drill_failed', severity: 'critical', key: 'p/main:drill_failed', details: { drill_id: 'drl_1', backup_id: 'bkp_1', phase: 'replay', object: failed.object } });
    expect(a!.message).toContain('000000010000000000000005.gz');
    expect(kinds(obs({ lastFailed: null, lastSuccessAt: NOW - 1000, maxAgeMs: null }))).toEqual([]);
  });

  it('drill_stale: no success yet, or the last one older than the age; not watched without an age', () => {
    expect(kinds(obs({ lastFailed: null, lastSuccessAt: null, maxAgeMs: 3_600_000 }))).toEqual(['drill_stale']);
    expect(kinds(obs({ lastFailed: null, lastSuccessAt: NOW - 2 * 3_600_000, maxAgeMs: 3_600_000 }))).toEqual(['drill_stale']);
    expect(kinds(obs({ lastFailed: null, lastSuccessAt: NOW - 60_000, maxAgeMs: 3_600_000 }))).toEqual([]);
    expect(kinds(obs({ lastFailed: null, lastSuccessAt: null, maxAgeMs: null }))).toEqual([]);
    expect(kinds(obs(undefined))).toEqual([]);
  });
});
