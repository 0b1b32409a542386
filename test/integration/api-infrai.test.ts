/**
 * infrai's /v1/db routes (shared/seeds/000) against the real daemon (fs repository, PostgreSQL 15
 * binaries), called the way the reference's own helper calls them: every request with
 * `Authorization: Bearer` and `Content-Type: application/json`, a JSON body only when there is
 * one, bare JSON answers. Its example flow (project.create, branch.create, project.list), then
 * snapshot, snapshot restore into a new project, lists with cursors, deletes; bad input gets
 * precise errors and changes nothing; a project-scoped token sees only its own.
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileTokenStore } from '../../src/auth/index.js';
import { cleanUp } from '../harness/index.js';
import { queryUri, startDaemonFixture, waitFor, type DaemonFixture } from './daemon-fixture.js';

let fx: DaemonFixture;
let KEY: string;

/** The reference's 12-line helper, in TypeScript: same headers, same body rule, the JSON back. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- route JSON, asserted field by field
async function infrai(method: string, path: string, body?: unknown, key = KEY): Promise<{ status: number; json: any }> {
  const res = await fetch(fx.daemon.url + path, {
    method,
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  fx.bodies.push(text);
  return { status: res.status, json: JSON.parse(text) };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function until(path: string, want: string): Promise<any> {
  let failed: string | null = null;
  const d = await waitFor(`${path} ${want}`, async () => {
    const r = (await infrai('GET', path)).json;
    if (r.status === 'failed') failed = `${path} failed: ${JSON.stringify(r)}\n${fx.logs.filter((l) => l.includes('"level":50') || l.includes('"level":40')).join('')}`;
    return r.status === want || failed !== null ? r : null;
  }, 240_000, 250);
  if (failed !== null) throw new Error(failed);
  return d;
}

const pw = (uri: string) => decodeURIComponent(new URL(uri).password);

beforeAll(async () => {
  fx = await startDaemonFixture({}, { schedules: false, summaryIntervalMs: 500 });
  KEY = fx.admin;
}, 120_000);

afterAll(() => cleanUp(() => fx?.close()), 120_000);

describe('infrai: the reference example flow and the rest of db.*', () => {
  let project: { id: string; name: string; connection_uri: string };
  let branchId: string;
  let snapshotId: string;
  let restoredId: string;

  it('refuses bad input precisely and creates nothing', async () => {
    const cases: Array<[string, string, unknown, number, string, string]> = [
      ['POST', '/v1/db/project/create', {}, 400, 'VALIDATION_ERROR', 'body.name'],
      ['POST', '/v1/db/project/create', { name: 5 }, 400, 'VALIDATION_ERROR', 'body.name'],
      ['POST', '/v1/db/project/create', { name: 'a', mode: 'byok' }, 400, 'VALIDATION_ERROR', 'body.mode'],
      ['POST', '/v1/db/project/create', { name: 'a', colour: 'red' }, 400, 'VALIDATION_ERROR', 'body.colour'],
      ['POST', '/v1/db/project/create', { name: 'a', postgres_version: '11' }, 422, 'POSTGRES_VERSION_UNSUPPORTED', 'body.postgres_version'],
      ['GET', '/v1/db/project/get/db_nope', undefined, 404, 'PROJECT_NOT_FOUND', 'db_nope'],
      ['DELETE', '/v1/db/project/delete/db_nope', undefined, 404, 'PROJECT_NOT_FOUND', 'db_nope'],
      ['POST', '/v1/db/branch/create', { project_id: 'db_nope', branch_name: 'dev' }, 404, 'PROJECT_NOT_FOUND', 'body.project_id'],
      ['GET', '/v1/db/branch/get/br_nope', undefined, 404, 'BRANCH_NOT_FOUND', 'br_nope'],
      ['GET', '/v1/db/snapshot/get/bkp_nope', undefined, 404, 'SNAPSHOT_NOT_FOUND', 'bkp_nope'],
      ['POST', '/v1/db/snapshot/restore/bkp_nope', { snapshot_id: 'bkp_other' }, 400, 'VALIDATION_ERROR', 'body.snapshot_id'],
      ['GET', '/v1/db/project/list?limit=0', undefined, 400, 'VALIDATION_ERROR', 'query.limit'],
      ['GET', '/v1/db/project/list?cursor=zz', undefined, 400, 'VALIDATION_ERROR', 'query.cursor'],
    ];
    for (const [method, path, body, status, code, msg] of cases) {
      const r = await infrai(method, path, body);
      expect(r.status, `${method} ${path}`).toBe(status);
      expect(r.json.error.code, `${method} ${path}`).toBe(code);
      expect(r.json.error.message, `${method} ${path}`).toContain(msg);
    }
    expect((await infrai('GET', '/v1/db/project/list')).json).toEqual({ items: [] });
    expect((await infrai('GET', '/v1/db/project/list', undefined, 'pitrd_000000000000_nope')).status).toBe(401);
  });

  it('db.project.create → running, with a connection URI that opens its database', async () => {
    const r = await infrai('POST', '/v1/db/project/create', { name: 'My App', region: 'eu-1', idempotency_key: 'create-1' });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ name: 'My App', region: 'eu-1', connection_uri: null, status: 'provisioning', postgres_version: '15' });
    expect(r.json.success).toBeUndefined();
    const again = await infrai('POST', '/v1/db/project/create', { name: 'My App', region: 'eu-1', idempotency_key: 'create-1' });
    expect(again.json.id).toBe(r.json.id);
    project = await until(`/v1/db/project/get/${r.json.id}`, 'running');
    expect(project.connection_uri).toMatch(/^postgresql:\/\/app:[^@]+@127\.0\.0\.1:\d+\/app\?sslmode=disable$/);
    await queryUri(project.connection_uri, pw(project.connection_uri), 'CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2)');
  }, 300_000);

  it('db.branch.create (from_branch main) → a running copy; db.branch.get / list', async () => {
    const bad = await infrai('POST', '/v1/db/branch/create', { project_id: project.id, branch_name: 'dev', from_branch: 'br_elsewhere' });
    expect(bad.json.error.message).toContain('body.from_branch');
    const r = await infrai('POST', '/v1/db/branch/create', { project_id: project.id, branch_name: 'dev', from_branch: 'main', idempotency_key: 'branch-1' });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ branch_name: 'dev', project_id: project.id });
    branchId = r.json.id;
    const b = await until(`/v1/db/branch/get/${branchId}`, 'running');
    expect(b.connection_uri).toMatch(/^postgresql:\/\/app:/);
    expect((await queryUri<{ n: number }>(b.connection_uri, pw(b.connection_uri), 'SELECT count(*)::int AS n FROM t'))[0]).toEqual({ n: 2 });
    expect((await infrai('GET', `/v1/db/branch/list?project_id=${project.id}`)).json).toEqual({ items: [expect.objectContaining({ id: branchId, status: 'running' })] });
  }, 300_000);

  it('db.snapshot.create / get / list, then db.snapshot.restore into a new project', async () => {
    const s = await infrai('POST', '/v1/db/snapshot/create', { project_id: project.id, label: 'before-migration', idempotency_key: 'snap-1' });
    expect(s.status).toBe(200);
    expect(s.json).toMatchObject({ project_id: project.id, label: 'before-migration' });
    snapshotId = s.json.id;
    await until(`/v1/db/snapshot/get/${snapshotId}`, 'completed');
    const list = (await infrai('GET', `/v1/db/snapshot/list?project_id=${project.id}`)).json;
    // The first base backup taken when the project was created is a snapshot too.
    expect(list.items.map((x: { id: string }) => x.id)).toContain(snapshotId);
    expect(list.next_cursor).toBeUndefined();

    const r = await infrai('POST', `/v1/db/snapshot/restore/${snapshotId}`, { snapshot_id: snapshotId, idempotency_key: 'restore-1' });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ name: 'My App-restored', connection_uri: null, status: 'provisioning' });
    restoredId = r.json.id;
    const p = await until(`/v1/db/project/get/${restoredId}`, 'running');
    expect(p.connection_uri).not.toBe(project.connection_uri);
    // Its own password: the source's does not open it.
    expect(pw(p.connection_uri)).not.toBe(pw(project.connection_uri));
    expect((await queryUri<{ n: number }>(p.connection_uri, pw(p.connection_uri), 'SELECT count(*)::int AS n FROM t'))[0]).toEqual({ n: 2 });
  }, 400_000);

  it('db.project.list pages with cursors; next_cursor is absent on the last page', async () => {
    const first = (await infrai('GET', '/v1/db/project/list?limit=1')).json;
    expect(first.items).toHaveLength(1);
    expect(typeof first.next_cursor).toBe('string');
    const second = (await infrai('GET', `/v1/db/project/list?limit=1&cursor=${first.next_cursor}`)).json;
    expect(second.items).toHaveLength(1);
    expect('next_cursor' in second).toBe(false);
    expect([first.items[0].id, second.items[0].id].sort()).toEqual([project.id, restoredId].sort());
  });

  it('a token of another project sees none of it', async () => {
    const other = (await fx.call('POST', '/projects', { name: 'other' })).json.data.id;
    const token = (await new FileTokenStore(fx.config.api.tokens_file!).create({ name: 'other', projects: [other], tier: 'free' })).token;
    expect((await infrai('GET', '/v1/db/project/list', undefined, token)).json).toEqual({ items: [] });
    expect((await infrai('GET', `/v1/db/project/get/${project.id}`, undefined, token)).json.error.code).toBe('PROJECT_NOT_FOUND');
    expect((await infrai('GET', `/v1/db/branch/get/${branchId}`, undefined, token)).json.error.code).toBe('BRANCH_NOT_FOUND');
    expect((await infrai('GET', `/v1/db/snapshot/get/${snapshotId}`, undefined, token)).json.error.code).toBe('SNAPSHOT_NOT_FOUND');
  });

  it('db.branch.delete, db.project.delete (its branches and snapshots go with it)', async () => {
    const b2 = await infrai('POST', '/v1/db/branch/create', { project_id: project.id, branch_name: 'second' });
    await until(`/v1/db/branch/get/${b2.json.id}`, 'running');
    expect((await infrai('DELETE', `/v1/db/branch/delete/${branchId}`)).json).toEqual({ ok: true });
    expect((await infrai('GET', `/v1/db/branch/get/${branchId}`)).json.error.code).toBe('BRANCH_NOT_FOUND');

    expect((await infrai('DELETE', `/v1/db/project/delete/${project.id}`)).json).toEqual({ ok: true });
    expect((await infrai('GET', `/v1/db/project/get/${project.id}`)).json.error.code).toBe('PROJECT_NOT_FOUND');
    expect((await infrai('GET', `/v1/db/branch/get/${b2.json.id}`)).json.error.code).toBe('BRANCH_NOT_FOUND');
    expect((await infrai('GET', `/v1/db/snapshot/get/${snapshotId}`)).json.error.code).toBe('SNAPSHOT_NOT_FOUND');
    await expect(queryUri(project.connection_uri, pw(project.connection_uri), 'SELECT 1')).rejects.toThrow(/ECONNREFUSED/);
    expect((await infrai('DELETE', `/v1/db/project/delete/${restoredId}`)).json).toEqual({ ok: true });
    expect((await infrai('GET', '/v1/db/project/list')).json).toEqual({ items: [] });
    expect(existsSync(fx.dir)).toBe(true);
  }, 300_000);
});
