/**
 * The operator's commands on a real repository (made by `pitrd demo --keep`: a database with a
 * base backup and archived WAL): info, backup pin / unpin / delete, expire --dry-run. Each is run
 * as the real CLI and checked against what the repository holds afterwards.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliJson, cliJsonError } from '../harness/index.js';
import { demoRepository, pitrd, removeTree, type DemoRepo } from './cli-fixture.js';

let demo: DemoRepo;
let expireConfig: string;

beforeAll(async () => {
  demo = await demoRepository();
  expireConfig = join(demo.root, 'expire.yaml');
  writeFileSync(expireConfig, `storage: { type: fs, path: ${join(demo.root, 'repository')} }\ndatabases:\n  - name: demo\n    connection: { host: 127.0.0.1, port: 9, user: nobody, dbname: postgres }\n    retention: { min_full_backups: 1 }\n`);
}, 180_000);

afterAll(() => {
  if (demo) removeTree(demo.root);
});

describe('pitrd info', () => {
  it('shows the backup, the recovery window and the archive, as a table and as JSON', async () => {
    const r = await pitrd(['-c', demo.config, 'info']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^database demo \(project /m);
    expect(r.stdout).toMatch(new RegExp(`^\\s+${demo.summary.backup.id}\\s+\\S+\\s+completed\\s`, 'm'));
    expect(r.stdout).toMatch(/recovery window, timeline 1: ok from \S+ to \S+/);
    const j = await pitrd(['-c', demo.config, 'info', '--json']);
    const data = cliJson<{ databases: Array<{ name: string; archive: { segments: number; last_segment: string }; recovery_windows: Array<{ status: string; to: string }>; backups: Array<{ stored_size: number }> }> }>(j.stdout);
    const db = data.databases[0]!;
    expect(db.name).toBe('demo');
    expect(db.archive.segments).toBeGreaterThan(0);
    expect(db.archive.last_segment).toMatch(/^[0-9A-F]{24}$/);
    expect(db.recovery_windows[0]!.status).toBe('ok');
    expect(db.backups[0]!.stored_size).toBeGreaterThan(0);
  });
});

describe('pitrd backup pin / unpin / delete', () => {
  it('a pinned backup is refused for deletion (exit 1, CONFLICT) and nothing is deleted; unpinned, it is deleted', async () => {
    const id = demo.summary.backup.id;
    expect((await pitrd(['-c', demo.config, 'backup', 'pin', id])).stdout.trim()).toBe(`backup ${id} of database demo is pinned`);
    const refused = await pitrd(['-c', demo.config, 'backup', 'delete', id, '--json']);
    expect(refused.exitCode).toBe(1);
    expect(cliJsonError(refused.stdout)).toMatchObject({ code: 'CONFLICT' });
    expect(refused.stderr).toContain(`pitrd: CONFLICT: backup ${id} of database "demo" is pinned`);

    // Still there: expire lists it, keeps it whatever the policy says, and says why.
    const dry = await pitrd(['-c', expireConfig, 'expire', '--dry-run']);
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(new RegExp(`keep backup ${id} \\(completed\\): .+`));

    const unknown = await pitrd(['-c', demo.config, 'backup', 'unpin', 'bkp_nothere']);
    expect(unknown.exitCode).toBe(1);
    expect(unknown.stderr).toContain('pitrd: BACKUP_NOT_FOUND: no backup "bkp_nothere" of database "demo"');

    expect((await pitrd(['-c', demo.config, 'backup', 'unpin', id])).exitCode).toBe(0);
    const deleted = await pitrd(['-c', demo.config, 'backup', 'delete', id, '--json']);
    expect(deleted.exitCode, deleted.stderr).toBe(0);
    expect(cliJson(deleted.stdout)).toMatchObject({ id, deleted: true, pinned: false });
    const info = cliJson<{ databases: Array<{ backups: unknown[] }> }>((await pitrd(['-c', demo.config, 'info', '--json'])).stdout);
    expect(info.databases[0]!.backups).toEqual([]);
  }, 240_000);

  it('expire names a database the config does not have, before opening the repository', async () => {
    const r = await pitrd(['-c', expireConfig, 'expire', '--database', 'nope']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('pitrd: DATABASE_NOT_FOUND: --database: no database "nope" in the config');
  });
});
