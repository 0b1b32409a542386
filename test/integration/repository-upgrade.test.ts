/**
 * `pitrd repo upgrade` on a repository in today's-minus-one layout (format 1: `databases/{db}/…`),
 * built with the real receiver and backup service and then moved to the old keys: every pitrd
 * refuses it until upgraded; an upgrade stopped half-way leaves it refused, and running the
 * command again finishes it; afterwards the backup restores exactly (restore point and latest).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPitrdError } from '../../src/errors.js';
import { openRepository, REPO_JSON_KEY, upgradeRepository } from '../../src/repository/index.js';
import { runRestore } from '../../src/restore/index.js';
import type { ObjectStore } from '../../src/storage/index.js';
import { startArchiveFixture, type ArchiveFixture } from '../harness/archive-fixture.js';

let fx: ArchiveFixture;
let backupId = '';
const NEW_ROOT = 'projects/default/databases/main/';

async function keysUnder(store: ObjectStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.listAll(prefix)) out.push(o.key);
  return out.sort();
}

async function openError(): Promise<unknown> {
  return openRepository(fx.store, { compression: 'gzip' }).then(() => null, (e: unknown) => e);
}

beforeAll(async () => {
  fx = await startArchiveFixture({ tag: 'upg', compression: 'gzip' });
  await fx.source.query('CREATE TABLE marker (id serial PRIMARY KEY)');
  backupId = (await fx.backup('before-upgrade')).id;
  await fx.source.query('INSERT INTO marker DEFAULT VALUES');
  await fx.source.query('INSERT INTO marker DEFAULT VALUES');
  await fx.source.query(`SELECT pg_create_restore_point('after_2')`);
  await fx.source.query('INSERT INTO marker DEFAULT VALUES');
  await fx.switchAndWait();
  await fx.receiver.stop();
  // Format 1: the same objects, byte for byte, under databases/main/, and repo.json format 1.
  const store = fx.store;
  for (const key of await keysUnder(store, NEW_ROOT)) {
    await store.put(`databases/main/${key.slice(NEW_ROOT.length)}`, await store.getBuffer(key));
    await store.delete([key]);
  }
  // A second format-1 database whose registration belongs to another project.
  await store.put('databases/other/wal/00000001.history', Buffer.from('opaque'));
  const repoJson = JSON.parse((await store.getBuffer(REPO_JSON_KEY)).toString('utf8')) as Record<string, unknown>;
  await store.put(REPO_JSON_KEY, Buffer.from(JSON.stringify({ ...repoJson, format: 1 })));
}, 240_000);

afterAll(() => fx?.destroy(), 60_000);

describe('repository upgrade from format 1', () => {
  it('a format-1 repository is refused with REPO_UPGRADE_REQUIRED naming the command', async () => {
    const e = await openError();
    expect(isPitrdError(e, 'REPO_UPGRADE_REQUIRED')).toBe(true);
    expect((e as Error).message).toContain('pitrd repo upgrade');
    const cli = await fx.cli(['verify', '--quick']);
    expect(cli.exitCode).toBe(1);
    expect(cli.stderr).toContain('REPO_UPGRADE_REQUIRED');
  });

  it('an upgrade stopped half-way keeps the repository refused; running it again finishes it', async () => {
    const total = (await keysUnder(fx.store, 'databases/')).length;
    expect(total).toBeGreaterThan(10);
    const stop = new Error('simulated crash');
    const owners: Record<string, string> = { main: 'default', other: 'proj_other' };
    await expect(
      upgradeRepository(fx.store, {
        ownerOf: (n) => owners[n]!,
        afterObject: (moved) => {
          if (moved === 5) throw stop;
        },
      }),
    ).rejects.toBe(stop);
    expect((await keysUnder(fx.store, 'databases/')).length).toBeLessThan(total);
    const mid = await openError();
    expect(isPitrdError(mid, 'REPO_UPGRADE_REQUIRED')).toBe(true);
    expect((mid as Error).message).toContain('has not finished');

    // The CLI knows no owner for `other` (no config, no registration): the recorded decision wins.
    const r = await fx.cli(['repo', 'upgrade', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const report = (JSON.parse(r.stdout) as { data: unknown }).data as { upgraded: boolean; resumed: boolean; owners: Record<string, string>; objects_moved: number };
    expect(report).toMatchObject({ upgraded: true, resumed: true, owners });
    expect(await keysUnder(fx.store, 'databases/')).toEqual([]);
    expect(await keysUnder(fx.store, 'projects/proj_other/databases/other/')).toEqual(['projects/proj_other/databases/other/wal/00000001.history']);
    expect((await keysUnder(fx.store, NEW_ROOT)).length).toBe(total - 1);

    const again = await fx.cli(['repo', 'upgrade', '--json']);
    expect(JSON.parse(again.stdout)).toMatchObject({ success: true, data: { upgraded: false, objects_moved: 0 } });
    const repo = await openRepository(fx.store, { compression: 'gzip' });
    expect(repo.repoJson).toMatchObject({ format: 2, upgraded: { from: 1, owners } });
    expect(repo.repoJson.upgrade_in_progress).toBeUndefined();
  }, 120_000);

  it('after the upgrade the backup restores exactly (restore point and latest), and verify passes', async () => {
    const repo = await openRepository(fx.store, { compression: 'gzip' });
    const db = repo.database({ project: 'default', name: 'main' });
    expect((await db.backups.list()).map((b) => b.id)).toEqual([backupId]);
    for (const [target, ids] of [
      [{ kind: 'name', name: 'after_2' }, [1, 2]],
      [{ kind: 'latest' }, [1, 2, 3]],
    ] as const) {
      const dir = join(fx.tempDir('target'), 'data');
      const r = await runRestore({ db, repo, target, targetDir: dir, mode: 'running' });
      try {
        expect(r.record.backup_id).toBe(backupId);
        expect(await fx.markerIds(r.port!)).toEqual(ids);
      } finally {
        await r.stopServer?.();
      }
    }
    const v = await fx.cli(['verify', '--database', 'main', '--quick']);
    expect(v.exitCode, v.stdout + v.stderr).toBe(0);
  }, 180_000);
});
