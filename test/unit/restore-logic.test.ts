import { describe, expect, it } from 'vitest';
import { isPitrdError } from '../../src/errors.js';
import type { BackupRecord, StoredWalSegment } from '../../src/repository/index.js';
import { assertTarget, recoverySettings, replayOrder, selectBackup, targetReachedPattern } from '../../src/restore/index.js';
import { pgConfQuote, pgTextProblem, shellQuote } from '../../src/pg-text.js';

function backup(id: string, stopLsn: string, stopTime: string, extra: Partial<BackupRecord> = {}): BackupRecord {
  return {
    id, database: 'main', type: 'manual', status: 'completed', label: null, created_at: stopTime,
    start_lsn: '0/1000028', stop_lsn: stopLsn, start_time: stopTime, stop_time: stopTime, timeline: 1,
    original_size: 1, stored_size: 1, compression: 'gzip', files: [], pg_version: 15, system_identifier: '1',
    expires_at: null, error: null, pinned: false, ...extra,
  };
}

const b1 = backup('b1', '0/3000100', '2026-01-01T10:00:00.000Z');
const b2 = backup('b2', '0/9000100', '2026-01-01T12:00:00.000Z');
const failed = backup('b3', '0/F000100', '2026-01-01T13:00:00.000Z', { status: 'failed' });

describe('selectBackup', () => {
  it('picks the newest completed backup whose stop time precedes a time target', () => {
    expect(selectBackup([b1, b2, failed], { kind: 'time', time: '2026-01-01T11:00:00Z' }, null).id).toBe('b1');
    expect(selectBackup([b1, b2, failed], { kind: 'time', time: '2026-01-01T14:00:00Z' }, null).id).toBe('b2');
  });

  it('picks by stop LSN for LSN targets', () => {
    expect(selectBackup([b2, b1], { kind: 'lsn', lsn: '0/5000000' }, null).id).toBe('b1');
    expect(selectBackup([b2, b1], { kind: 'lsn', lsn: '0/9000100' }, null).id).toBe('b2');
  });

  it('rejects a time before the oldest backup with TARGET_TIME_INVALID naming both times', () => {
    let err: unknown;
    try {
      selectBackup([b1, b2], { kind: 'time', time: '2026-01-01T09:00:00Z' }, null);
    } catch (e) {
      err = e;
    }
    expect(isPitrdError(err, 'TARGET_TIME_INVALID')).toBe(true);
    expect((err as Error).message).toContain('2026-01-01T09:00:00Z');
    expect((err as Error).message).toContain(b1.stop_time);
  });

  it('rejects an LSN before the oldest backup', () => {
    expect(() => selectBackup([b1], { kind: 'lsn', lsn: '0/2000000' }, null)).toThrow(/before the earliest recoverable LSN 0\/3000100/);
  });

  it('only considers backups on the target lineage', () => {
    const onTl2 = backup('b4', '0/A000000', '2026-01-01T12:30:00.000Z', { timeline: 2 });
    expect(selectBackup([b1, onTl2], { kind: 'latest' }, new Set([1])).id).toBe('b1');
    expect(selectBackup([b1, onTl2], { kind: 'latest' }, new Set([1, 2])).id).toBe('b4');
    expect(() => selectBackup([failed], { kind: 'latest' }, null)).toThrow(/no completed base backup/);
  });
});

describe('recoverySettings', () => {
  it('writes a time target in PostgreSQL form with action and timeline', () => {
    const s = recoverySettings({ target: { kind: 'time', time: '2026-01-01T10:00:00.5Z' }, inclusive: false, action: 'pause' }, "/x/rc.sh '%f' '%p'");
    // The other targets are written empty, before ours: a source's own recovery_target_* loses.
    expect(Object.entries(s)).toEqual([
      ['restore_command', "'/x/rc.sh ''%f'' ''%p'''"],
      ['recovery_target', "''"],
      ['recovery_target_lsn', "''"],
      ['recovery_target_name', "''"],
      ['recovery_target_xid', "''"],
      ['recovery_target_time', "'2026-01-01 10:00:00.500+00'"],
      ['recovery_target_inclusive', 'off'],
      ['recovery_target_timeline', "'latest'"],
      ['recovery_target_action', "'pause'"],
    ]);
  });

  it('quotes for the config grammar: a backslash cannot end the string; control characters are refused', () => {
    expect(recoverySettings({ target: { kind: 'name', name: "a\\'b" } }, 'x').recovery_target_name).toBe("'a\\\\''b'");
    expect(pgConfQuote("\\'")).toBe("'\\\\'''");
    expect(() => recoverySettings({ target: { kind: 'name', name: "\\'\nrecovery_end_command = 'touch /tmp/x'" } }, 'x')).toThrow(/target_name: contains a control character \(U\+000A/);
    for (const bad of ['a\0b', 'a\rb', 'a\tb', 'a\u007fb']) expect(pgTextProblem(bad)).toMatch(/control character/);
    expect(pgTextProblem('ünïcødé \\ \' " $x `y`')).toBeNull();
    expect(shellQuote("it's $HOME")).toBe(`'it'\\''s $HOME'`);
  });

  it('range-checks a target xid and the byte length of a restore point name before anything is written', () => {
    expect(() => assertTarget({ kind: 'xid', xid: '18446744073709551616' })).toThrow(/out of range/);
    expect(() => assertTarget({ kind: 'xid', xid: '2' })).toThrow(/out of range/);
    expect(() => assertTarget({ kind: 'xid', xid: '4294967297' })).toThrow(/out of range/);
    expect(() => assertTarget({ kind: 'xid', xid: '18446744073709551615' })).not.toThrow();
    expect(() => assertTarget({ kind: 'xid', xid: '740' })).not.toThrow();
    expect(() => assertTarget({ kind: 'name', name: 'é'.repeat(32) })).toThrow(/1-63 bytes/);
    expect(() => assertTarget({ kind: 'name', name: 'a\nb' })).toThrow(/control character/);
  });

  it('keeps microseconds of a time target (commit times are microsecond-exact), in any zone', () => {
    expect(recoverySettings({ target: { kind: 'time', time: '2026-01-01T10:00:00.123456Z' } }, 'x').recovery_target_time).toBe("'2026-01-01 10:00:00.123456+00'");
    expect(recoverySettings({ target: { kind: 'time', time: '2026-01-01T12:00:00.12345+02:00' } }, 'x').recovery_target_time).toBe("'2026-01-01 10:00:00.123450+00'");
    expect(recoverySettings({ target: { kind: 'time', time: '2026-01-01T10:00:00Z' } }, 'x').recovery_target_time).toBe("'2026-01-01 10:00:00.000+00'");
  });

  it('latest has no target; immediate and names are spelled as PostgreSQL wants', () => {
    expect(recoverySettings({ target: { kind: 'latest' } }, 'x')).toMatchObject({ recovery_target: "''", recovery_target_lsn: "''", recovery_target_name: "''", recovery_target_time: "''", recovery_target_xid: "''" });
    expect(recoverySettings({ target: { kind: 'immediate' } }, 'x').recovery_target).toBe("'immediate'");
    expect(recoverySettings({ target: { kind: 'name', name: "it's" }, timeline: 3 }, 'x')).toMatchObject({ recovery_target_name: "'it''s'", recovery_target_timeline: "'3'", recovery_target_action: "'promote'" });
  });

  it('recognises the log lines that prove a target was reached', () => {
    expect(targetReachedPattern({ kind: 'name', name: 'a' }).test('LOG:  recovery stopping at restore point "a", time …')).toBe(true);
    expect(targetReachedPattern({ kind: 'time', time: 'x' }).test('LOG:  recovery stopping before commit of transaction 740')).toBe(true);
    expect(targetReachedPattern({ kind: 'latest' }).test('LOG:  archive recovery complete')).toBe(true);
  });
});

describe('replayOrder', () => {
  const seg = (name: string): StoredWalSegment => ({ timeline: Number.parseInt(name.slice(0, 8), 16), name, size: 1, sha256: 'x', archived_at: '' });
  it('one segment per number from the start, newest timeline of the lineage first', () => {
    const all = ['000000010000000000000001', '000000010000000000000002', '000000010000000000000003', '000000020000000000000003', '000000020000000000000004', '000000030000000000000004'].map(seg);
    const order = replayOrder(all, new Set([1, 2]), 2n, 1024 * 1024);
    expect(order.map((s) => s.name)).toEqual(['000000010000000000000002', '000000020000000000000003', '000000020000000000000004']);
  });
});
