/** Pure parts of the restore and branch routes: one target per body, a target_dir is a name in its project's directory. */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { recoveryOptions, resolveTargetDir, targetOf } from '../../src/service/index.js';
import { isPitrdError } from '../../src/errors.js';

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return isPitrdError(err) ? `${err.code}: ${err.message}` : String(err);
  }
  return 'no error';
};

describe('targetOf', () => {
  it('maps each field to its recovery target kind', () => {
    expect(targetOf({ target_time: '2026-01-25T14:30:00Z' }, null)).toEqual({ kind: 'time', time: '2026-01-25T14:30:00Z' });
    // The one parser (src/restore/parse-target.ts) refuses what the CLI refuses, with the same code.
    expect(code(() => targetOf({ target_time: '2026-02-30T14:30:00Z' }, null))).toMatch(/^VALIDATION_ERROR: body.target_time: "2026-02-30T14:30:00Z" is not an RFC 3339 time/);
    expect(targetOf({ target_time: 'latest' }, null)).toEqual({ kind: 'latest' });
    expect(targetOf({ target_lsn: '0/1a2b3c' }, null)).toEqual({ kind: 'lsn', lsn: '0/1A2B3C' });
    expect(targetOf({ target_xid: 1234 }, null)).toEqual({ kind: 'xid', xid: '1234' });
    expect(targetOf({ target_name: 'before_migration' }, null)).toEqual({ kind: 'name', name: 'before_migration' });
    expect(targetOf({ target: 'immediate' }, null)).toEqual({ kind: 'immediate' });
  });

  it('uses the fallback when no target is given, refuses none without one, and refuses several', () => {
    expect(targetOf({}, { kind: 'immediate' })).toEqual({ kind: 'immediate' });
    expect(code(() => targetOf({}, null))).toMatch(/^VALIDATION_ERROR: a recovery target is required: one of body.target_time/);
    expect(code(() => targetOf({ target: 'latest', target_xid: '7' }, { kind: 'latest' }))).toBe('VALIDATION_ERROR: give one recovery target, not several (body.target_xid, body.target)');
  });

  it('inclusive only with time, LSN or xid targets', () => {
    expect(recoveryOptions({ inclusive: false, timeline: 2 }, { kind: 'lsn', lsn: '0/1' })).toEqual({ inclusive: false, timeline: 2 });
    expect(code(() => recoveryOptions({ inclusive: true }, { kind: 'name', name: 'x' }))).toMatch(/^VALIDATION_ERROR: body.inclusive: only applies/);
  });
});

describe('resolveTargetDir', () => {
  const base = mkdtempSync(join(tmpdir(), 'pitrd-root-logic-'));
  const root = join(base, 'restores');
  const projectDir = join(root, 'projects', 'proj_a');
  mkdirSync(projectDir, { recursive: true });
  symlinkSync(base, join(projectDir, 'up'));
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it("takes a name, inside the project's own directory", () => {
    expect(resolveTargetDir(root, 'proj_a', 'main-0301')).toBe(join(projectDir, 'main-0301'));
    expect(resolveTargetDir(root, 'proj_b', 'x.1_y')).toBe(join(root, 'projects', 'proj_b', 'x.1_y'));
  });

  it("refuses paths, the daemon's state, hidden names, escapes and symlinks out, without naming the root", () => {
    for (const p of ['.', '..', '.pitrd', '../proj_b/x', 'a/b', '/etc', join(projectDir, 'x'), 'running-restores.json/..', 'a\0b', '', 'x'.repeat(129)]) {
      const msg = code(() => resolveTargetDir(root, 'proj_a', p));
      expect(msg, p).toMatch(/^VALIDATION_ERROR: body.target_dir: expected a directory name/);
      expect(msg).not.toContain(base);
    }
    const link = code(() => resolveTargetDir(root, 'proj_a', 'up'));
    expect(link).toMatch(/^VALIDATION_ERROR: body.target_dir: "up" leads out of the project's restore directory through a symbolic link/);
    expect(link).not.toContain(base);
  });
});

describe('RepositoryIdempotencyStore', () => {
  it('keeps records (encrypted with the repository key) until they expire; the sweep deletes old ones', async () => {
    const { createObjectStore } = await import('../../src/storage/index.js');
    const { RepositoryIdempotencyStore, IDEMPOTENCY_PREFIX } = await import('../../src/service/index.js');
    const dir = mkdtempSync(join(tmpdir(), 'pitrd-idem-'));
    const store = createObjectStore({ type: 'fs', path: dir });
    try {
      const s = new RepositoryIdempotencyStore(store, Buffer.alloc(32, 7), 1000);
      const rec = { fingerprint: 'f', status: 202, body: { success: true, data: { id: 'rstr_secret-ish' } }, createdAtMs: 1_000, expiresAtMs: 2_000 };
      await s.put('tok:key-1', rec);
      expect(await s.get('tok:key-1', 1_500)).toEqual(rec);
      expect(await s.get('tok:key-1', 2_000)).toBeNull();
      expect(await s.get('tok:other', 1_500)).toBeNull();
      const keys: string[] = [];
      for await (const o of store.listAll(IDEMPOTENCY_PREFIX)) keys.push(o.key);
      expect(keys).toHaveLength(1);
      expect(keys[0]).not.toContain('key-1');
      expect((await store.getBuffer(keys[0]!)).toString('latin1')).not.toContain('rstr_secret-ish');
      expect(await s.sweep(Date.now() + 5_000)).toBe(1);
      expect(await s.get('tok:key-1', 1_500)).toBeNull();
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
