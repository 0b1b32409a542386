/**
 * Bad input and auth on the restore and branch routes, table-driven, against a daemon started
 * in-process (no Postgres: the registered database was never archived, so every well-formed
 * restore is refused by the plan before anything is written). Also: creating POSTs take an
 * absent body when every field is optional, and the OpenAPI document lists the new routes.
 */
import { existsSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemonFixture, type DaemonFixture } from './daemon-fixture.js';

let fx: DaemonFixture;
let pid: string;
let root: string;

beforeAll(async () => {
  fx = await startDaemonFixture({}, { schedules: false });
  pid = (await fx.call('POST', '/projects', { name: 'main-project' })).json.data.id;
  const reg = await fx.call('POST', `/projects/${pid}/databases`, { name: 'known', host: 'db.invalid', port: 5432, user: 'replicator', password: 'pw-rst-bad-input', dbname: 'app', sslmode: 'require' });
  expect(reg.status).toBe(201);
  root = fx.daemon.restores.root;
}, 60_000);
afterAll(async () => fx?.close(), 60_000);

interface Case {
  name: string;
  method: 'GET' | 'POST' | 'DELETE';
  url: string;
  body?: unknown;
  status: number;
  code: string;
  says: string;
}

const D = '/projects/P/databases/known';
const R = `${D}/pitr/restore`;
const T = '2026-01-25T14:30:00Z';
const cases: Case[] = [
  // POST pitr/restore
  { name: 'restore: unknown database', method: 'POST', url: '/projects/P/databases/missing/pitr/restore', body: { target_time: T }, status: 404, code: 'DATABASE_NOT_FOUND', says: '"missing"' },
  { name: 'restore: unknown project', method: 'POST', url: '/projects/proj_nothere/databases/known/pitr/restore', body: { target_time: T }, status: 404, code: 'PROJECT_NOT_FOUND', says: 'proj_nothere' },
  { name: 'restore: unknown body key', method: 'POST', url: R, body: { target_time: T, target_date: T }, status: 400, code: 'VALIDATION_ERROR', says: 'body.target_date: unknown field' },
  { name: 'restore: no target', method: 'POST', url: R, body: {}, status: 400, code: 'VALIDATION_ERROR', says: 'a recovery target is required' },
  { name: 'restore: no body, no target', method: 'POST', url: R, status: 400, code: 'VALIDATION_ERROR', says: 'body.target_time' },
  { name: 'restore: two targets', method: 'POST', url: R, body: { target_time: T, target_lsn: '0/1000000' }, status: 400, code: 'VALIDATION_ERROR', says: 'body.target_time, body.target_lsn' },
  { name: 'restore: time without zone', method: 'POST', url: R, body: { target_time: '2026-01-25 14:30' }, status: 400, code: 'VALIDATION_ERROR', says: 'body.target_time' },
  { name: 'restore: time as a number', method: 'POST', url: R, body: { target_time: 1737815400 }, status: 400, code: 'VALIDATION_ERROR', says: 'body.target_time' },
  { name: 'restore: malformed LSN', method: 'POST', url: R, body: { target_lsn: '12345' }, status: 400, code: 'VALIDATION_ERROR', says: 'body.target_lsn: expected an LSN' },
  { name: 'restore: negative xid', method: 'POST', url: R, body: { target_xid: -4 }, status: 400, code: 'VALIDATION_ERROR', says: 'body.target_xid' },
  { name: 'restore: restore point name too long', method: 'POST', url: R, body: { target_name: 'x'.repeat(64) }, status: 400, code: 'VALIDATION_ERROR', says: 'body.target_name' },
  { name: 'restore: bad target keyword', method: 'POST', url: R, body: { target: 'yesterday' }, status: 400, code: 'VALIDATION_ERROR', says: 'body.target' },
  { name: 'restore: bad mode', method: 'POST', url: R, body: { target: 'latest', mode: 'paused' }, status: 400, code: 'VALIDATION_ERROR', says: 'body.mode' },
  { name: 'restore: bad timeline', method: 'POST', url: R, body: { target: 'latest', timeline: 0 }, status: 400, code: 'VALIDATION_ERROR', says: 'body.timeline' },
  { name: 'restore: inclusive with latest', method: 'POST', url: R, body: { target: 'latest', inclusive: false }, status: 400, code: 'VALIDATION_ERROR', says: 'body.inclusive' },
  { name: 'restore: malformed backup id', method: 'POST', url: R, body: { target: 'latest', backup_id: '../x' }, status: 400, code: 'VALIDATION_ERROR', says: 'body.backup_id' },
  { name: 'restore: absolute target_dir outside the root', method: 'POST', url: R, body: { target_time: T, target_dir: '/etc/pitrd-evil' }, status: 400, code: 'VALIDATION_ERROR', says: 'body.target_dir' },
  { name: 'restore: relative target_dir escaping the root', method: 'POST', url: R, body: { target_time: T, target_dir: '../../escape' }, status: 400, code: 'VALIDATION_ERROR', says: 'body.target_dir: expected a directory name' },
  { name: 'restore: target_dir through a symlink out of the root', method: 'POST', url: R, body: { target_time: T, target_dir: 'link-out' }, status: 400, code: 'VALIDATION_ERROR', says: 'symbolic link' },
  { name: 'restore: nothing archived yet', method: 'POST', url: R, body: { target_time: T }, status: 422, code: 'TARGET_TIME_INVALID', says: 'no recovery window' },
  { name: 'restore: latest, nothing archived yet', method: 'POST', url: R, body: { target_time: 'latest' }, status: 422, code: 'TARGET_TIME_INVALID', says: '"known"' },
  // POST backups/:id/restore
  { name: 'backup restore: malformed backup id', method: 'POST', url: `${D}/backups/nope/restore`, status: 400, code: 'VALIDATION_ERROR', says: 'params.backup_id' },
  { name: 'backup restore: unknown body key', method: 'POST', url: `${D}/backups/bkp_20260101T000000Z_00000000/restore`, body: { backup_id: 'bkp_x_1' }, status: 400, code: 'VALIDATION_ERROR', says: 'body.backup_id: unknown field' },
  { name: 'backup restore: unknown database', method: 'POST', url: '/projects/P/databases/missing/backups/bkp_20260101T000000Z_00000000/restore', status: 404, code: 'DATABASE_NOT_FOUND', says: '"missing"' },
  // restores list / get
  { name: 'restores: unknown database', method: 'GET', url: '/projects/P/databases/missing/pitr/restores', status: 404, code: 'DATABASE_NOT_FOUND', says: '"missing"' },
  { name: 'restores: bad cursor', method: 'GET', url: `${D}/pitr/restores?cursor=%24%24`, status: 400, code: 'VALIDATION_ERROR', says: 'query.cursor' },
  { name: 'restores: unknown query field', method: 'GET', url: `${D}/pitr/restores?status=running`, status: 400, code: 'VALIDATION_ERROR', says: 'query.status: unknown field' },
  { name: 'restore status: unknown id', method: 'GET', url: `${D}/pitr/restores/rstr_20260101T000000Z_00000000`, status: 404, code: 'RESTORE_NOT_FOUND', says: 'rstr_20260101T000000Z_00000000' },
  { name: 'restore status: malformed id', method: 'GET', url: `${D}/pitr/restores/..%2Fetc`, status: 400, code: 'VALIDATION_ERROR', says: 'params.restore_id' },
  // branches
  { name: 'branch: no name', method: 'POST', url: `${D}/branches`, body: {}, status: 400, code: 'VALIDATION_ERROR', says: 'body.branch_name: required' },
  { name: 'branch: bad name', method: 'POST', url: `${D}/branches`, body: { branch_name: 'Has Spaces' }, status: 400, code: 'VALIDATION_ERROR', says: 'body.branch_name' },
  { name: 'branch: unknown body key', method: 'POST', url: `${D}/branches`, body: { branch_name: 'b1', from_branch: 'main' }, status: 400, code: 'VALIDATION_ERROR', says: 'body.from_branch: unknown field' },
  { name: 'branch: two targets', method: 'POST', url: `${D}/branches`, body: { branch_name: 'b1', target: 'latest', target_name: 'rp' }, status: 400, code: 'VALIDATION_ERROR', says: 'body.target_name' },
  { name: 'branch: nothing archived yet', method: 'POST', url: `${D}/branches`, body: { branch_name: 'b1' }, status: 422, code: 'TARGET_TIME_INVALID', says: 'no recovery window' },
  { name: 'branch: unknown database', method: 'POST', url: '/projects/P/databases/missing/branches', body: { branch_name: 'b1' }, status: 404, code: 'DATABASE_NOT_FOUND', says: '"missing"' },
  { name: 'branch get: unknown id', method: 'GET', url: `${D}/branches/br_20260101T000000Z_00000000`, status: 404, code: 'BRANCH_NOT_FOUND', says: 'br_20260101T000000Z_00000000' },
  { name: 'branch delete: unknown id', method: 'DELETE', url: `${D}/branches/br_20260101T000000Z_00000000`, status: 404, code: 'BRANCH_NOT_FOUND', says: 'br_20260101T000000Z_00000000' },
  { name: 'branch list: limit 0', method: 'GET', url: `${D}/branches?limit=0`, status: 400, code: 'VALIDATION_ERROR', says: 'query.limit' },
  { name: 'project branch list: unknown project', method: 'GET', url: '/projects/proj_nothere/branches', status: 404, code: 'PROJECT_NOT_FOUND', says: 'proj_nothere' },
  { name: 'project branch list: unknown query field', method: 'GET', url: '/projects/P/branches?database=known', status: 400, code: 'VALIDATION_ERROR', says: 'query.database: unknown field' },
];

describe('bad input on restore and branch routes', () => {
  beforeAll(() => {
    mkdirSync(join(root, 'projects', pid), { recursive: true });
    symlinkSync('/tmp', join(root, 'projects', pid, 'link-out'));
  });

  it.each(cases)('$name → $status $code', async (c) => {
    const r = await fx.call(c.method, c.url.replace('/P/', `/${pid}/`), c.body);
    expect(r.json).toMatchObject({ success: false, error: { code: c.code } });
    expect(r.status).toBe(c.status);
    expect(r.json.error.message).toContain(c.says);
  });

  it('refusals wrote nothing: no restore record, no branch, nothing under the restore root but the test symlink', async () => {
    const list = await fx.call('GET', `/projects/${pid}/databases/known/pitr/restores`);
    expect(list.status).toBe(200);
    expect(list.json.data).toEqual({ restores: [], next_cursor: null, total_count: 0 });
    const branches = await fx.call('GET', `/projects/${pid}/databases/known/branches`);
    expect(branches.json.data).toEqual({ branches: [], next_cursor: null });
    expect((await fx.call('GET', `/projects/${pid}/branches`)).json.data).toEqual({ branches: [], next_cursor: null });
    // `.pitrd` is the daemon's own state directory (managed instances), never a refusal's doing.
    expect(readdirSync(root).filter((n) => n !== '.pitrd')).toEqual(['projects']);
    expect(readdirSync(join(root, 'projects', pid))).toEqual(['link-out']);
    expect(existsSync('/etc/pitrd-evil')).toBe(false);
  });

  it('a creating POST whose fields are all optional takes no body at all', async () => {
    const en = await fx.call('POST', `/projects/${pid}/databases/known/pitr/disable`);
    expect(en.status).toBe(200);
    // enable has a body schema ({retention_days?}): no body is {} (the receiver then fails to
    // connect to db.invalid in the background; the answer is about the request).
    const r = await fx.call('POST', `/projects/${pid}/databases/known/pitr/enable`);
    expect(r.status).toBe(200);
    expect(r.json.data).toMatchObject({ enabled: true });
    expect((await fx.call('POST', `/projects/${pid}/databases/known/pitr/disable`)).status).toBe(200);
    // A body that is required still says so.
    const p = await fx.call('POST', '/projects');
    expect(p.json.error.message).toContain('body: required');
  });

  it('the OpenAPI document lists the restore and branch routes', async () => {
    const doc = (await fx.call('GET', '/openapi.json', undefined, {}, null)).json as { paths: Record<string, Record<string, { requestBody?: { required: boolean } }>> };
    const base = '/projects/{project_id}/databases/{name}';
    for (const [p, m] of [
      [`${base}/pitr/restore`, 'post'],
      [`${base}/pitr/restores`, 'get'],
      [`${base}/pitr/restores/{restore_id}`, 'get'],
      [`${base}/backups/{backup_id}/restore`, 'post'],
      [`${base}/branches`, 'post'],
      [`${base}/branches`, 'get'],
      [`${base}/branches/{branch_id}`, 'get'],
      [`${base}/branches/{branch_id}`, 'delete'],
      ['/projects/{project_id}/branches', 'get'],
    ] as const) {
      expect(doc.paths[p]?.[m], `${m} ${p}`).toBeDefined();
    }
    expect(doc.paths[`${base}/backups/{backup_id}/restore`]!.post!.requestBody!.required).toBe(false);
    expect(doc.paths[`${base}/branches`]!.post!.requestBody!.required).toBe(true);
  });
});

// Auth, another project's token, malformed ids and bodies on every route: generated from the
// OpenAPI document in api-openapi-bad-input.test.ts.
