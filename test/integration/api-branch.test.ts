/**
 * Branches through HTTP only: a real PostgreSQL 15 source archived by the daemon in-process (fs
 * repository). Create a branch at a time between two marker rows, poll it to running, query it
 * through its connection URI (exactly the rows before the target), write to it without touching
 * the source, restart the daemon (the branch's server is stopped with it and started again),
 * delete it (server stopped, data directory removed).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanUp, startPostgres, type PgCluster } from '../harness/index.js';
import { markerIdsAt, queryUri, startDaemonFixture, waitFor, type DaemonFixture } from './daemon-fixture.js';

const PASSWORD = 'Br4-branch-Secret-pw';
let source: PgCluster;
let fx: DaemonFixture;
let base: string;
const rows: Array<{ id: number; committed_at: Date }> = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const between = (a: Date, b: Date) => new Date((a.getTime() + b.getTime()) / 2).toISOString();

const sql = <T extends Record<string, unknown>>(uri: string, text: string) => queryUri<T>(uri, PASSWORD, text);
const ids = (uri: string) => markerIdsAt(uri, PASSWORD);

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- route JSON, asserted field by field
async function untilRunning(id: string): Promise<any> {
  return waitFor(`branch ${id} running`, async () => {
    const b = (await fx.call('GET', `${base}/branches/${id}`)).json.data;
    if (b.status === 'failed') throw new Error(`branch failed: ${b.error}`);
    return b.status === 'running' ? b : null;
  }, 180_000, 200);
}

beforeAll(async () => {
  source = await startPostgres({ walSegmentSizeMB: 1, password: PASSWORD });
  await source.query('CREATE TABLE marker (id serial PRIMARY KEY, committed_at timestamptz NOT NULL DEFAULT clock_timestamp())');
  fx = await startDaemonFixture({}, { schedules: false, summaryIntervalMs: 500 });
  const projectId = (await fx.call('POST', '/projects', { name: 'br' })).json.data.id;
  expect((await fx.call('POST', `/projects/${projectId}/databases`, { name: 'main', host: '127.0.0.1', port: source.port, user: 'postgres', password: PASSWORD, dbname: 'postgres', sslmode: 'disable' })).status).toBe(201);
  base = `/projects/${projectId}/databases/main`;
  expect((await fx.call('POST', `${base}/pitr/enable`)).status).toBe(200);
  await waitFor('receiver running', async () => (await fx.call('GET', `${base}/pitr/receiver-status`)).json.data?.status === 'running');
  const b = await fx.call('POST', `${base}/backups`);
  expect(b.status).toBe(202);
  await waitFor('backup completed', async () => (await fx.call('GET', `${base}/backups/${b.json.data.id}`)).json.data.status === 'completed', 120_000, 200);
  for (let i = 1; i <= 3; i++) {
    await sleep(300);
    const [r] = await source.query<{ id: number; committed_at: Date }>('INSERT INTO marker DEFAULT VALUES RETURNING id, committed_at');
    rows.push(r!);
    await source.query('SELECT pg_switch_wal()');
  }
  await source.query('CREATE TABLE tail (id int)');
  await source.query('SELECT pg_switch_wal()');
  await waitFor('a recovery window past the last row', async () => {
    const d = (await fx.call('GET', `${base}/pitr/recovery-window`)).json.data;
    return d.status === 'ok' && Date.parse(d.to) >= rows[2]!.committed_at.getTime();
  }, 120_000, 250);
}, 240_000);

afterAll(() => cleanUp(() => fx?.close(), () => source?.destroy()), 120_000);

describe('branches over HTTP', () => {
  let branch: { id: string; connection_uri: string; data_dir: string; port: number };

  it('creates a branch at a time between rows 1 and 2, running with a connection URI', async () => {
    const r = await fx.call('POST', `${base}/branches`, { branch_name: 'preview', target_time: between(rows[0]!.committed_at, rows[1]!.committed_at) }, { 'idempotency-key': 'br-1' });
    expect(r.status).toBe(202);
    expect(r.json.data).toMatchObject({ branch_name: 'preview', database: 'main', status: 'creating', connection_uri: null, target_kind: 'time' });
    expect(r.json.data.restore_id).toMatch(/^rstr_/);
    const dup = await fx.call('POST', `${base}/branches`, { branch_name: 'preview' });
    expect(dup.status).toBe(409);
    expect(dup.json.error.code).toBe('CONFLICT');

    branch = await untilRunning(r.json.data.id);
    expect(branch.connection_uri).toBe(`postgresql://postgres@127.0.0.1:${branch.port}/postgres`);
    expect(await ids(branch.connection_uri)).toEqual([1]);
    // The branch is writable and independent of the source.
    await sql(branch.connection_uri, 'INSERT INTO marker (id) VALUES (100)');
    expect(await ids(branch.connection_uri)).toEqual([1, 100]);
    expect((await source.query<{ id: number }>('SELECT id FROM marker ORDER BY id')).map((x) => x.id)).toEqual([1, 2, 3]);
    // The restore behind it is listed with the database's restores.
    const rst = (await fx.call('GET', `${base}/pitr/restores/${r.json.data.restore_id}`)).json.data;
    expect(rst).toMatchObject({ status: 'completed', mode: 'running', target_dir: branch.data_dir });

    const list = (await fx.call('GET', `${base}/branches`)).json.data;
    expect(list.branches.map((x: { id: string }) => x.id)).toEqual([branch.id]);
    expect(list.next_cursor).toBeNull();
    const projectId = base.split('/')[2];
    const byProject = (await fx.call('GET', `/projects/${projectId}/branches`)).json.data;
    expect(byProject.branches.map((x: { id: string }) => x.id)).toEqual([branch.id]);
  }, 240_000);

  it('a daemon restart stops the branch server with the daemon and starts it again', async () => {
    await fx.restart();
    expect(fx.logs.some((l) => l.includes('branch server stopped for the daemon shutdown') && l.includes(branch.id))).toBe(true);
    const after = await untilRunning(branch.id);
    expect(after.port).toBe(branch.port);
    expect(await ids(after.connection_uri)).toEqual([1, 100]);
  }, 240_000);

  it('after a daemon crash (no clean stop) a branch whose server still runs is adopted as it is', async () => {
    const postmasterPid = () => readFileSync(join(branch.data_dir, 'postmaster.pid'), 'utf8').split('\n')[0];
    const before = postmasterPid();
    // A crash: the daemon goes away without stopping its branches.
    fx.daemon.branches.stop = async () => undefined;
    await fx.restart();
    const after = await untilRunning(branch.id);
    expect(postmasterPid()).toBe(before);
    expect(after.port).toBe(branch.port);
    expect(await ids(after.connection_uri)).toEqual([1, 100]);
  }, 240_000);

  it('deletes a branch: server stopped, data directory removed, BRANCH_NOT_FOUND afterwards', async () => {
    // The database cannot go while a branch of it runs: nothing could manage that server then.
    const dbDel = await fx.call('DELETE', base);
    expect(dbDel.status).toBe(409);
    expect(dbDel.json.error.code).toBe('CONFLICT');
    expect(dbDel.json.error.message).toContain(branch.id);
    const del = await fx.call('DELETE', `${base}/branches/${branch.id}`);
    expect(del.status).toBe(200);
    expect(del.json.data).toEqual({ id: branch.id, deleted: true });
    expect(existsSync(branch.data_dir)).toBe(false);
    await expect(ids(branch.connection_uri)).rejects.toThrow(/ECONNREFUSED/);
    expect((await fx.call('GET', `${base}/branches/${branch.id}`)).json.error.code).toBe('BRANCH_NOT_FOUND');
    expect((await fx.call('GET', `${base}/branches`)).json.data.branches).toEqual([]);
  }, 120_000);

  it('a branch without a target follows the archive to its end', async () => {
    const r = await fx.call('POST', `${base}/branches`, { branch_name: 'head' });
    expect(r.status).toBe(202);
    expect(r.json.data.target_kind).toBe('latest');
    const b = await untilRunning(r.json.data.id);
    expect(await ids(b.connection_uri)).toEqual([1, 2, 3]);
    expect((await fx.call('DELETE', `${base}/branches/${b.id}`)).status).toBe(200);
  }, 240_000);
});
