/**
 * Projects are isolated in the repository, through the real daemon (HTTP only, fs repository,
 * two real PostgreSQL 15 servers). Project A registers `main`, backs it up and deletes it (data
 * kept); project B registers `main` and sees nothing of A's: no backups, A's backup ids are not
 * found, a download URL re-pointed at A's objects is refused; B backs up its own. Then A and B
 * both have a live `main` with PITR on, each streaming its own server through its own slot.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileTokenStore } from '../../src/auth/index.js';
import { projectSlotName } from '../../src/postgres/index.js';
import { cleanUp, startPostgres, type PgCluster } from '../harness/index.js';
import { startDaemonFixture, waitFor, type DaemonFixture } from './daemon-fixture.js';

const PASSWORD = 'Iso-14-Secret-pw';
let sa: PgCluster;
let sb: PgCluster;
let fx: DaemonFixture;
let A = '';
let B = '';
/** A token that may act on project B only: what a tenant holds. */
let tokenB = '';
let backupA = '';
let backupB = '';

const reg = (pg: PgCluster) => ({ name: 'main', host: '127.0.0.1', port: pg.port, user: 'postgres', password: PASSWORD, dbname: 'postgres', sslmode: 'disable' });
const asB = (method: string, path: string, body?: unknown) => fx.call(method, path, body, {}, tokenB);

async function backupDone(base: string, id: string, call = fx.call.bind(fx)): Promise<void> {
  await waitFor(`backup ${id} completed`, async () => {
    const s = (await call('GET', `${base}/backups/${id}`)).json.data?.status;
    if (s === 'failed' || s === 'interrupted') throw new Error(`backup ${id} ${s}`);
    return s === 'completed';
  }, 120_000, 100);
}

beforeAll(async () => {
  [sa, sb] = await Promise.all([startPostgres({ walSegmentSizeMB: 1, password: PASSWORD }), startPostgres({ walSegmentSizeMB: 1, password: PASSWORD })]);
  fx = await startDaemonFixture({}, { schedules: false });
  A = (await fx.call('POST', '/projects', { name: 'tenant-a' })).json.data.id;
  B = (await fx.call('POST', '/projects', { name: 'tenant-b' })).json.data.id;
  tokenB = (await new FileTokenStore(join(fx.dir, 'tokens.json')).create({ name: 'b', projects: [B], tier: 'pro' })).token;
}, 120_000);

afterAll(() => cleanUp(() => fx?.close(), () => sa?.destroy(), () => sb?.destroy()), 60_000);

describe('projects are isolated in the repository', () => {
  it('A registers main (a second main in A is a 409), backs it up, deletes it keeping the data', async () => {
    expect((await fx.call('POST', `/projects/${A}/databases`, reg(sa))).status).toBe(201);
    const dup = await fx.call('POST', `/projects/${A}/databases`, reg(sa));
    expect(dup.status).toBe(409);
    expect(dup.json.error.code).toBe('CONFLICT');
    backupA = (await fx.call('POST', `/projects/${A}/databases/main/backups`, { label: 'a-only' })).json.data.id;
    await backupDone(`/projects/${A}/databases/main`, backupA);
    const del = await fx.call('DELETE', `/projects/${A}/databases/main`);
    expect(del.json.data).toMatchObject({ deleted: true, data_deleted: false });
  }, 180_000);

  it('B registers main and sees none of it: no backups, A ids not found, no download', async () => {
    const r = await asB('POST', `/projects/${B}/databases`, reg(sb));
    expect(r.status).toBe(201);
    const base = `/projects/${B}/databases/main`;
    expect((await asB('GET', `${base}/backups`)).json.data).toMatchObject({ backups: [], next_cursor: null, total_count: 0 });
    for (const [method, path] of [['GET', `${base}/backups/${backupA}`], ['GET', `${base}/backups/${backupA}/download`], ['DELETE', `${base}/backups/${backupA}`]] as const) {
      const res = await asB(method, path);
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.json.error.code).toBe('BACKUP_NOT_FOUND');
    }
    expect((await asB('GET', `${base}/pitr/config`)).json.data.base_backup_id).toBeNull();
    // B's token cannot reach project A at all.
    expect((await asB('GET', `/projects/${A}/databases/main/backups`)).json.error.code).toBe('PROJECT_NOT_FOUND');
  });

  it('B takes its own backup; its download URL re-pointed at A\'s objects is refused', async () => {
    const base = `/projects/${B}/databases/main`;
    backupB = (await asB('POST', `${base}/backups`, { label: 'b-only' })).json.data.id;
    await backupDone(base, backupB, asB);
    const list = (await asB('GET', `${base}/backups`)).json.data.backups.map((b: { id: string }) => b.id);
    expect(list).toEqual([backupB]);
    const url = new URL((await asB('GET', `${base}/backups/${backupB}/download`)).json.data.download_url as string);
    expect(url.pathname).toContain(`/projects/${B}/databases/main/backups/${backupB}/`);
    expect((await fetch(url)).status).toBe(200);
    for (const forged of [url.pathname.replace(`/projects/${B}/`, `/projects/${A}/`).replace(backupB, backupA), url.pathname.replace(backupB, backupA)]) {
      const res = await fetch(`${url.origin}${forged}${url.search}`);
      expect(res.status, forged).toBe(403);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('SIGNED_URL_INVALID');
    }
  }, 180_000);

  it('A registers main again: its own history is back, B\'s is not in it', async () => {
    expect((await fx.call('POST', `/projects/${A}/databases`, reg(sa))).status).toBe(201);
    const ids = (await fx.call('GET', `/projects/${A}/databases/main/backups`)).json.data.backups.map((b: { id: string }) => b.id);
    expect(ids).toEqual([backupA]);
  });

  it('both live at once, each streaming its own server through its own slot, no cross-talk', async () => {
    for (const [p, call] of [[A, fx.call.bind(fx)], [B, asB]] as const) expect((await call('POST', `/projects/${p}/databases/main/pitr/enable`, {})).status).toBe(200);
    const status = async (p: string) => (await fx.call('GET', `/projects/${p}/databases/main/pitr/receiver-status`)).json.data;
    await waitFor('both receivers running', async () => (await status(A))?.status === 'running' && (await status(B))?.status === 'running', 60_000);
    // Each server holds exactly its own project's slot, and the two slots' names differ.
    const [slotA, slotB] = [projectSlotName(A, 'main'), projectSlotName(B, 'main')];
    expect(slotA).not.toBe(slotB);
    const slots = async (pg: PgCluster) => (await pg.query<{ slot_name: string }>('SELECT slot_name FROM pg_replication_slots ORDER BY 1')).map((r) => r.slot_name);
    expect(await slots(sa)).toEqual([slotA]);
    expect(await slots(sb)).toEqual([slotB]);

    const segA = (await sa.query<{ f: string }>('SELECT pg_walfile_name(pg_current_wal_lsn()) AS f'))[0]!.f;
    const segB = (await sb.query<{ f: string }>('SELECT pg_walfile_name(pg_current_wal_lsn()) AS f'))[0]!.f;
    await sa.query('SELECT pg_switch_wal()');
    await sb.query('SELECT pg_switch_wal()');
    const archived = async (p: string, call: typeof fx.call, seg: string) =>
      ((await call('GET', `/projects/${p}/databases/main/pitr/wal?limit=1000`)).json.data.archives as Array<{ filename: string }>).some((f) => f.filename === seg);
    await waitFor('both segments archived', async () => (await archived(A, fx.call.bind(fx), segA)) && (await archived(B, asB, segB)), 60_000);

    // The repository ties each history to its own server.
    const sysid = async (pg: PgCluster) => (await pg.query<{ s: string }>('SELECT system_identifier::text AS s FROM pg_control_system()'))[0]!.s;
    const infoA = await fx.daemon.repo.database({ project: A, name: 'main' }).info();
    const infoB = await fx.daemon.repo.database({ project: B, name: 'main' }).info();
    expect(infoA?.system_identifier).toBe(await sysid(sa));
    expect(infoB?.system_identifier).toBe(await sysid(sb));
    expect(infoA?.system_identifier).not.toBe(infoB?.system_identifier);
    const segsOf = async (p: string) => {
      const out = new Map<string, string>();
      for await (const s of fx.daemon.repo.database({ project: p, name: 'main' }).wal.listSegments()) out.set(s.name, s.sha256);
      return out;
    };
    const [wa, wb] = [await segsOf(A), await segsOf(B)];
    // Both servers start at the same segment names: the same name must hold different WAL.
    for (const [name, sha] of wa) if (wb.has(name)) expect(wb.get(name)).not.toBe(sha);
    expect(fx.logs.join('')).not.toContain('SYSTEM_ID_MISMATCH');
  }, 120_000);
});
