import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPitrdError } from '../../src/errors.js';
import { newId, openRepository, type BackupRecordInput } from '../../src/repository/index.js';
import { createCodecStore } from '../../src/storage/index.js';
import { fsDriver, s3Driver, snapshot, type DriverFixture } from './repository-drivers.js';

const drivers = [
  ['fs', fsDriver],
  ['s3', s3Driver],
] as const;

async function rejection(p: Promise<unknown>) {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected the promise to reject');
}

const INFO = { project: 'default', system_identifier: '7301234567890123456', pg_version: 15, wal_segment_size: 16 * 1024 * 1024, settings: { data_checksums: 'on' } };

for (const [name, make] of drivers) {
  describe(`repository metadata on ${name}`, () => {
    let d: DriverFixture;
    beforeAll(async () => {
      d = await make();
    });
    afterAll(async () => {
      await d?.stop();
    });

    it('database.json round trip, created_at kept, system identifier guarded', async () => {
      const store = await d.fresh();
      const repo = await openRepository(store, { compression: 'gzip' });
      const db = repo.database({ project: 'default', name: 'main' });
      expect(await db.info()).toBeNull();
      const saved = await db.saveInfo(INFO);
      expect(saved).toMatchObject({ ...INFO, name: 'main' });
      expect(await db.info()).toEqual(saved);
      const again = await (await openRepository(store, { compression: 'gzip' })).database({ project: 'default', name: 'main' }).saveInfo({ ...INFO, pg_version: 16 });
      expect(again.created_at).toBe(saved.created_at);
      expect(again.pg_version).toBe(16);
      const err = await rejection(db.saveInfo({ ...INFO, system_identifier: '1' }));
      expect(isPitrdError(err, 'SYSTEM_ID_MISMATCH')).toBe(true);
      expect((await db.info())!.system_identifier).toBe(INFO.system_identifier);
      expect(await repo.listDatabases()).toEqual([{ project: 'default', name: 'main' }]);
    });

    it('a corrupt database.json is REPO_INVALID naming the key', async () => {
      const store = await d.fresh();
      const db = (await openRepository(store, { compression: 'gzip' })).database({ project: 'default', name: 'main' });
      const meta = createCodecStore(store, { compression: 'none' });
      await meta.put('projects/default/databases/main/database.json', Buffer.from('{"name": "main", "pg_version": "fifteen"}'));
      const err = await rejection(db.info());
      expect(isPitrdError(err, 'REPO_INVALID')).toBe(true);
      expect((err as Error).message).toMatch(/^projects\/default\/databases\/main\/database\.json: .*pg_version/);
      await meta.put('projects/default/databases/main/database.json', Buffer.from('not json'));
      const err2 = await rejection(db.info());
      expect(isPitrdError(err2, 'REPO_INVALID')).toBe(true);
      expect((err2 as Error).message).toMatch(/^projects\/default\/databases\/main\/database\.json: not valid JSON/);
      // Receivers before 2026-12-04 wrote server_version_num where the format says major: read as the major.
      await meta.put('projects/default/databases/main/database.json', Buffer.from(JSON.stringify({ ...INFO, name: 'main', pg_version: 150018, created_at: '2026-01-01T00:00:00.000Z', updated_at: '2026-01-01T00:00:00.000Z' })));
      expect((await db.info())!.pg_version).toBe(15);
    });

    it('encrypted metadata does not reveal its content', async () => {
      const store = await d.fresh();
      const db = (await openRepository(store, { key: randomBytes(32), compression: 'gzip' })).database({ project: 'default', name: 'main' });
      await db.saveInfo(INFO);
      const raw = await store.getBuffer('projects/default/databases/main/database.json');
      expect(raw.includes(INFO.system_identifier)).toBe(false);
      expect((await db.info())!.system_identifier).toBe(INFO.system_identifier);
    });

    it('backup.json lifecycle: pending, running, data first, completed last; list, remove', async () => {
      const store = await d.fresh();
      const backups = (await openRepository(store, { compression: 'gzip' })).database({ project: 'default', name: 'main' }).backups;
      const id = newId('bkp');
      const base: BackupRecordInput = { id, database: 'main', type: 'manual', status: 'pending', created_at: new Date().toISOString(), label: 'nightly' };
      const pending = await backups.save(base);
      expect(pending).toMatchObject({ status: 'pending', pinned: false, files: [], start_lsn: null, error: null });
      await backups.save({ ...pending, status: 'running', start_lsn: '0/2000028', start_time: new Date().toISOString(), timeline: 1 });

      const tar = Buffer.concat([Buffer.from('TARDATA'), randomBytes(10000)]);
      const put = await backups.putData(id, 'base.tar', tar);
      expect(put.originalSize).toBe(tar.length);
      const file = { name: 'base.tar', size: put.originalSize, stored_size: put.size, sha256: put.sha256 };

      // Claiming a file that is not there cannot commit.
      const noLsn = await rejection(backups.save({ ...pending, status: 'completed', files: [file] }));
      expect(isPitrdError(noLsn, 'VALIDATION_ERROR')).toBe(true);
      expect((noLsn as Error).message).toContain('without start_lsn, stop_lsn, stop_time, timeline');
      const bad = await rejection(
        backups.save({ ...pending, status: 'completed', start_lsn: '0/2000028', stop_lsn: '0/2000100', stop_time: new Date().toISOString(), timeline: 1, files: [file, { ...file, name: 'backup_manifest' }] }),
      );
      expect(isPitrdError(bad, 'VALIDATION_ERROR')).toBe(true);
      expect((bad as Error).message).toContain('"backup_manifest" is not in the repository');
      expect((await backups.get(id))!.status).toBe('running');

      const done = await backups.save({
        ...pending,
        status: 'completed',
        start_lsn: '0/2000028',
        stop_lsn: '0/2000100',
        start_time: '2026-01-25T03:00:00.000Z',
        stop_time: '2026-01-25T03:00:05.000Z',
        timeline: 1,
        original_size: put.originalSize,
        stored_size: put.size,
        compression: 'gzip',
        files: [file],
        pg_version: 150018,
        system_identifier: INFO.system_identifier,
        expires_at: '2026-02-01T03:00:00.000Z',
        extra_field_from_basebackup: { kept: true },
      });
      expect(await backups.get(id)).toEqual(done);
      expect((await backups.get(id))!.extra_field_from_basebackup).toEqual({ kept: true });
      const chunks: Buffer[] = [];
      for await (const c of await backups.getData(id, 'base.tar', { sha256: put.sha256 })) chunks.push(c as Buffer);
      expect(Buffer.concat(chunks).equals(tar)).toBe(true);

      const id2 = newId('bkp');
      await backups.save({ id: id2, database: 'main', type: 'automated', status: 'failed', created_at: new Date(Date.now() + 1000).toISOString(), error: 'pg_basebackup exited 1' });
      expect((await backups.list()).map((b) => [b.id, b.status])).toEqual([
        [id, 'completed'],
        [id2, 'failed'],
      ]);
      expect(await backups.get('bkp_missing')).toBeNull();

      await backups.remove(id);
      expect(await backups.get(id)).toBeNull();
      expect((await snapshot(store)).some((k) => k.includes(`/backups/${id}/`))).toBe(false);
      expect((await backups.list()).map((b) => b.id)).toEqual([id2]);
    });

    it('refuses invalid backup records and hostile object names', async () => {
      const store = await d.fresh();
      const backups = (await openRepository(store, { compression: 'none' })).database({ project: 'default', name: 'main' }).backups;
      const e1 = await rejection(backups.save({ id: 'b1', database: 'main', type: 'manual', status: 'done' as 'completed', created_at: new Date().toISOString() }));
      expect(isPitrdError(e1, 'VALIDATION_ERROR')).toBe(true);
      expect(isPitrdError(await rejection(backups.putData('b1', '../escape', Buffer.from('x'))), 'VALIDATION_ERROR')).toBe(true);
      expect(isPitrdError(await rejection(backups.putData('b1', 'backup.json', Buffer.from('x'))), 'VALIDATION_ERROR')).toBe(true);
      expect(isPitrdError(await rejection(backups.get('../x')), 'VALIDATION_ERROR')).toBe(true);
      expect(await snapshot(store)).toHaveLength(1);
    });

    it('restores: save, update, get, list', async () => {
      const store = await d.fresh();
      const restores = (await openRepository(store, { compression: 'gzip' })).database({ project: 'default', name: 'main' }).restores;
      const r1 = await restores.save({ id: 'rstr_1', database: 'main', status: 'pending', target_time: '2026-01-25T14:30:00Z', backup_id: 'bkp_1', started_at: '2026-01-25T14:50:00Z' });
      expect(r1).toMatchObject({ wal_files_applied: 0, completed_at: null, error: null });
      await restores.save({ ...r1, status: 'completed', wal_files_applied: 35, completed_at: '2026-01-25T14:55:00Z' });
      await restores.save({ id: 'rstr_0', database: 'main', status: 'failed', target_time: 'latest', started_at: '2026-01-24T10:00:00Z', error: 'boom' });
      expect(await restores.get('rstr_1')).toMatchObject({ status: 'completed', wal_files_applied: 35 });
      expect((await restores.list()).map((r) => r.id)).toEqual(['rstr_0', 'rstr_1']);
      expect((await snapshot(store)).map((k) => k.split(':')[0])).toContain('projects/default/databases/main/restores/rstr_1.json');
    });

    it('WAL summaries: put, overwrite, get, list in LSN order', async () => {
      const store = await d.fresh();
      const sums = (await openRepository(store, { compression: 'gzip' })).database({ project: 'default', name: 'main' }).walSummaries;
      await sums.put(2, '000000020000000000000004', { end_lsn: '0/5000000', commits: 3 });
      await sums.put(1, '000000010000000000000004', { end_lsn: '0/4800000' });
      await sums.put(1, '000000010000000000000003', { end_lsn: '0/4000000' });
      await sums.put(1, '000000010000000000000003', { end_lsn: '0/4000000', restore_points: ['before'] });
      expect(await sums.get(1, '000000010000000000000003')).toEqual({ end_lsn: '0/4000000', restore_points: ['before'] });
      expect(await sums.get(1, '000000010000000000000009')).toBeNull();
      expect((await sums.list()).map((s) => `${s.timeline}:${s.segment}`)).toEqual(['1:000000010000000000000003', '1:000000010000000000000004', '2:000000020000000000000004']);
      expect((await sums.list(2)).map((s) => s.record)).toEqual([{ end_lsn: '0/5000000', commits: 3 }]);
      await sums.remove([{ timeline: 1, segment: '000000010000000000000003' }]);
      expect((await sums.list(1)).map((s) => s.segment)).toEqual(['000000010000000000000004']);
    });
  });
}
