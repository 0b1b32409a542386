import { describe, expect, it } from 'vitest';
import { BackupLocks } from '../../src/basebackup/lock.js';
import { expiresAt, newBackupId, parseBackupLabel, parseLabelTime, parseManifestWalRanges, segmentsBetween } from '../../src/basebackup/metadata.js';
import { parseSizeSetting as parseSize } from '../../src/postgres/index.js';
import { fractionDone } from '../../src/basebackup/progress.js';
import { assertSchedule } from '../../src/basebackup/scheduler.js';
import { neededSegments, waitForWalArchived } from '../../src/basebackup/wal-wait.js';
import { isPitrdError } from '../../src/errors.js';

const MB = 1024 * 1024;

describe('backup_label', () => {
  const text = [
    'START WAL LOCATION: 0/9000028 (file 000000010000000000000009)',
    'CHECKPOINT LOCATION: 0/9000060',
    'BACKUP METHOD: streamed',
    'BACKUP FROM: primary',
    'START TIME: 2026-11-23 08:30:05 UTC',
    "LABEL: nightly 'x'",
    'START TIMELINE: 3',
    '',
  ].join('\n');

  it('reads start LSN, checkpoint, time, timeline and label', () => {
    const l = parseBackupLabel(text);
    expect(l.startLsn).toBe(0x9000028n);
    expect(l.checkpointLsn).toBe(0x9000060n);
    expect(l.startTime?.toISOString()).toBe('2026-11-23T08:30:05.000Z');
    expect(l.startTimeline).toBe(3);
    expect(l.label).toBe("nightly 'x'");
  });

  it('refuses a label without a start location', () => {
    expect(() => parseBackupLabel('LABEL: x\n')).toThrow(/START WAL LOCATION/);
  });

  it('reads numeric zones and refuses ambiguous abbreviations', () => {
    expect(parseLabelTime('2026-01-02 03:04:05 +02')?.toISOString()).toBe('2026-01-02T01:04:05.000Z');
    expect(parseLabelTime('2026-01-02 03:04:05 -0530')?.toISOString()).toBe('2026-01-02T08:34:05.000Z');
    expect(parseLabelTime('2026-01-02 03:04:05 CST')).toBeNull();
    expect(parseLabelTime('garbage')).toBeNull();
  });
});

describe('manifest WAL-Ranges and needed segments', () => {
  const manifest = JSON.stringify({
    'PostgreSQL-Backup-Manifest-Version': 1,
    Files: [],
    'WAL-Ranges': [{ Timeline: 1, 'Start-LSN': '0/2000028', 'End-LSN': '0/4000100' }],
  });

  it('parses the ranges', () => {
    expect(parseManifestWalRanges(manifest)).toEqual([{ timeline: 1, startLsn: 0x2000028n, endLsn: 0x4000100n }]);
    expect(() => parseManifestWalRanges('{')).toThrow(/not valid JSON/);
    expect(() => parseManifestWalRanges('{"Files":[]}')).toThrow(/no WAL-Ranges/);
  });

  it('lists every segment from start to stop, 16 MB and 1 MB segments', () => {
    expect(segmentsBetween(1, 0x2000028n, 0x4000100n, 16 * MB)).toEqual(['000000010000000000000002', '000000010000000000000003', '000000010000000000000004']);
    expect(segmentsBetween(1, 0x200028n, 0x400100n, MB)).toEqual(['000000010000000000000002', '000000010000000000000003', '000000010000000000000004']);
    expect(neededSegments(parseManifestWalRanges(manifest), 16 * MB)).toHaveLength(3);
    expect(neededSegments(parseManifestWalRanges(manifest), MB)).toHaveLength(33);
  });

  it('does not ask for the segment that starts exactly at the stop LSN', () => {
    expect(segmentsBetween(2, 0x200028n, 0x300000n, MB)).toEqual(['000000020000000000000002']);
    // Across the 4 GB boundary of the "log id" part of the name.
    expect(segmentsBetween(1, 0xff000028n, 0x1_00000100n, 16 * MB)).toEqual(['0000000100000000000000FF', '000000010000000100000000']);
  });
});

describe('ids, expiry, sizes, progress, schedules', () => {
  it('makes ids that sort by time', () => {
    const a = newBackupId(new Date('2026-01-01T00:00:00Z'), () => 'ffffffff');
    const b = newBackupId(new Date('2026-01-01T00:00:01Z'), () => '00000000');
    expect(a).toBe('bkp_20260101T000000Z_ffffffff');
    expect(a < b).toBe(true);
    expect(newBackupId()).toMatch(/^bkp_\d{8}T\d{6}Z_[0-9a-f]{8}$/);
  });

  it('computes expiry', () => {
    expect(expiresAt(new Date('2026-01-01T00:00:00Z'), 7)).toBe('2026-01-08T00:00:00.000Z');
    expect(expiresAt(new Date(), undefined)).toBeNull();
  });

  it('reads SHOW sizes', () => {
    expect(parseSize('16MB')).toBe(16 * MB);
    expect(parseSize('1GB')).toBe(1024 * MB);
    expect(() => parseSize('lots')).toThrow();
  });

  it('caps the fraction done', () => {
    expect(fractionDone({ bytesDone: 50, bytesTotalEstimate: 100 })).toBe(0.5);
    expect(fractionDone({ bytesDone: 150, bytesTotalEstimate: 100 })).toBe(1);
    expect(fractionDone({ bytesDone: 1, bytesTotalEstimate: null })).toBeNull();
  });

  it('validates cron expressions', () => {
    expect(() => assertSchedule('main', '0 3 * * *')).not.toThrow();
    expect(() => assertSchedule('main', 'tomorrow')).toThrow(/database "main".*"tomorrow"/);
  });
});

describe('BackupLocks', () => {
  it('allows one backup per database and names the running one', () => {
    const locks = new BackupLocks();
    const release = locks.acquire('a', 'bkp_1');
    expect(() => locks.acquire('b', 'bkp_2')).not.toThrow();
    let err: unknown;
    try {
      locks.acquire('a', 'bkp_3');
    } catch (e) {
      err = e;
    }
    expect(isPitrdError(err, 'BACKUP_IN_PROGRESS')).toBe(true);
    expect((err as { context: Record<string, unknown> }).context.backup_id).toBe('bkp_1');
    release();
    release(); // idempotent
    expect(locks.holder('a')).toBeNull();
    expect(() => locks.acquire('a', 'bkp_4')).not.toThrow();
  });
});

describe('waitForWalArchived', () => {
  const ranges = [{ timeline: 1, startLsn: 0x200028n, endLsn: 0x300100n }];

  it('asks for each needed segment until present', async () => {
    const present = new Set<string>();
    const asked: string[] = [];
    let calls = 0;
    await waitForWalArchived({
      ranges, walSegmentSize: MB, timeoutMs: 10_000, pollMs: 1, backupId: 'b',
      isWalArchived: async (_tli, name) => {
        asked.push(name);
        // Each segment shows up on the second look.
        if (++calls % 2 === 0) present.add(name);
        return present.has(name);
      },
    });
    expect([...new Set(asked)]).toEqual(['000000010000000000000002', '000000010000000000000003']);
  });

  it('fails with WAL_NOT_ARCHIVED naming the missing segment', async () => {
    const p = waitForWalArchived({ ranges, walSegmentSize: MB, timeoutMs: 0, pollMs: 1, backupId: 'bkp_x', isWalArchived: async (_t, n) => n.endsWith('2') });
    await expect(p).rejects.toMatchObject({ code: 'WAL_NOT_ARCHIVED', context: { segment: '000000010000000000000003', backup: 'bkp_x' } });
  });
});
