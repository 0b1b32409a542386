import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isPitrdError } from '../../src/errors.js';
import type { BackupRecord, StoredWalSegment } from '../../src/repository/index.js';
import { assertEmptyTarget, assertTarget, recoverySettings, replayOrder, targetReachedPattern } from '../../src/restore/index.js';
import { IN_PROGRESS_MARK, targetState } from '../../src/restore/in-progress.js';
import { pgConfQuote, pgTextProblem, shellQuote } from '../../src/pg-text.js';

// Backup choice and target admission: test/unit/wal-admit.test.ts (pure, over the window's own data).

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

describe('a restore target directory left by an interrupted restore (src/restore/in-progress.ts)', () => {
  const dir = () => mkdtempSync(join(tmpdir(), 'pitrd-unit-target-'));
  const mark = { restore: 'rstr_x', database: 'main', backup: 'b1', started_at: '2026-01-01T00:00:00Z', work_dir: '' };
  /** A pid that is not running (the highest possible, never handed out here). */
  const deadPid = 4_194_303;

  it('is empty when absent or empty, and refuses data without the mark', () => {
    const d = dir();
    try {
      expect(targetState(join(d, 'absent')).kind).toBe('empty');
      expect(targetState(d).kind).toBe('empty');
      writeFileSync(join(d, 'PG_VERSION'), '15\n');
      expect(() => targetState(d)).toThrow(/not empty/);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('takes a marked directory whose process is gone for interrupted, and refuses one whose process lives', () => {
    const d = dir();
    try {
      writeFileSync(join(d, 'PG_VERSION'), '15\n');
      writeFileSync(join(d, IN_PROGRESS_MARK), JSON.stringify({ ...mark, pid: deadPid, host: hostname() }));
      const s = targetState(d);
      expect(s.kind === 'interrupted' && s.mark.restore).toBe('rstr_x');
      // Alive (this test's parent process), or this very process, or another host: in use.
      for (const [pid, host] of [[process.ppid, hostname()], [process.pid, hostname()], [deadPid, 'elsewhere']] as const) {
        writeFileSync(join(d, IN_PROGRESS_MARK), JSON.stringify({ ...mark, pid, host }));
        let err: unknown;
        try {
          targetState(d);
        } catch (e) {
          err = e;
        }
        expect(isPitrdError(err, 'TARGET_DIR_NOT_EMPTY') && (err as Error).message).toContain('rstr_x');
      }
      // A mark alone is not data: extraction may go on (the restore's own mark is there while it runs).
      rmSync(join(d, 'PG_VERSION'));
      expect(() => assertEmptyTarget(d)).not.toThrow();
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
