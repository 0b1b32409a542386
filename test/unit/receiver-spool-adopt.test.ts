/**
 * Format-1 spool directories (`<spool_dir>/<name>/`) are moved to `<spool_dir>/<project>/<name>/`
 * before receivers start: nothing in them is dropped, a project named like a database does not
 * trip the move, and a move cut short between its two renames is finished by the next start.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { adoptLegacySpools, silentLogger, spoolDirOf } from '../../src/receiver/index.js';

const SEG = '000000010000000000000003';
let root = '';
afterEach(() => rmSync(root, { recursive: true, force: true }));

function legacySpool(name: string): void {
  mkdirSync(join(root, name), { recursive: true });
  writeFileSync(join(root, name, 'spool.json'), '{"system_identifier":"1"}\n');
  writeFileSync(join(root, name, SEG), `wal of ${name}`);
}

describe('adoptLegacySpools', () => {
  it('moves each format-1 spool to its owner project, content intact; unowned ones stay', async () => {
    root = mkdtempSync(join(tmpdir(), 'spool-adopt-'));
    legacySpool('main');
    legacySpool('orders');
    legacySpool('orphan');
    // A project directory named like a database, and a database of project `main` named `main`.
    const owners: Record<string, string> = { main: 'main', orders: 'default' };
    await adoptLegacySpools(root, (n) => owners[n] ?? null, silentLogger);
    expect(readFileSync(join(spoolDirOf(root, { project: 'main', name: 'main' }), SEG), 'utf8')).toBe('wal of main');
    expect(readFileSync(join(spoolDirOf(root, { project: 'default', name: 'orders' }), SEG), 'utf8')).toBe('wal of orders');
    expect(existsSync(join(root, 'orders'))).toBe(false);
    expect(readFileSync(join(root, 'orphan', SEG), 'utf8')).toBe('wal of orphan');
    // A second start finds nothing left to move (the project dirs hold no spool.json).
    await adoptLegacySpools(root, (n) => owners[n] ?? null, silentLogger);
    expect(readFileSync(join(root, 'main', 'main', SEG), 'utf8')).toBe('wal of main');
  });

  it('finishes a move interrupted between its two renames', async () => {
    root = mkdtempSync(join(tmpdir(), 'spool-adopt-'));
    legacySpool('x');
    // The state right after the first rename of a crashed start.
    const { renameSync } = await import('node:fs');
    renameSync(join(root, 'x'), join(root, '.moving-x'));
    await adoptLegacySpools(root, () => 'p1', silentLogger);
    expect(readFileSync(join(root, 'p1', 'x', SEG), 'utf8')).toBe('wal of x');
    expect(existsSync(join(root, '.moving-x'))).toBe(false);
  });

  it('refuses (CONFLICT) when the new place already holds a spool, moving nothing', async () => {
    root = mkdtempSync(join(tmpdir(), 'spool-adopt-'));
    legacySpool('db');
    mkdirSync(join(root, 'p', 'db'), { recursive: true });
    await expect(adoptLegacySpools(root, () => 'p', silentLogger)).rejects.toMatchObject({ code: 'CONFLICT' });
    expect(readFileSync(join(root, 'db', SEG), 'utf8')).toBe('wal of db');
  });
});
