/**
 * Bad input and auth on the database and PITR routes, table-driven, against a daemon started
 * in-process (no Postgres needed: nothing here reaches a receiver). A registered password never
 * appears in any response body or log line.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileTokenStore } from '../../src/auth/index.js';
import { startDaemonFixture, type DaemonFixture } from './daemon-fixture.js';

const PASSWORD = 'Bad-Input-Secret-pw-41';
let fx: DaemonFixture;
let pid: string;
let freeToken: string;

beforeAll(async () => {
  fx = await startDaemonFixture();
  pid = (await fx.call('POST', '/projects', { name: 'main-project' })).json.data.id;
  const tokens = new FileTokenStore(fx.config.api.tokens_file!);
  freeToken = (await tokens.create({ name: 'free', projects: ['*'], tier: 'free' })).token;
  const reg = await fx.call('POST', `/projects/${pid}/databases`, { name: 'known', host: 'db.invalid', port: 5432, user: 'replicator', password: PASSWORD, dbname: 'app', sslmode: 'require' });
  expect(reg.status).toBe(201);
}, 60_000);
afterAll(async () => fx?.close(), 60_000);

interface Case {
  name: string;
  method: 'GET' | 'POST' | 'DELETE';
  /** `P` is replaced with the project id. */
  url: string;
  body?: unknown;
  status: number;
  code: string;
  says: string;
}

const reg = (extra: Record<string, unknown>) => ({ name: 'newdb', host: 'h', ...extra });

const cases: Case[] = [
  // list
  { name: 'list: limit 0', method: 'GET', url: '/projects/P/databases?limit=0', status: 400, code: 'VALIDATION_ERROR', says: 'query.limit: must be at least 1' },
  { name: 'list: unknown query field', method: 'GET', url: '/projects/P/databases?region=x', status: 400, code: 'VALIDATION_ERROR', says: 'query.region: unknown field' },
  { name: 'list: foreign cursor', method: 'GET', url: `/projects/P/databases?cursor=${Buffer.from('{"a":1}').toString('base64url')}`, status: 400, code: 'VALIDATION_ERROR', says: 'query.cursor' },
  { name: 'list: unknown project', method: 'GET', url: '/projects/proj_nothere/databases', status: 404, code: 'PROJECT_NOT_FOUND', says: 'proj_nothere' },
  // register
  { name: 'register: no name', method: 'POST', url: '/projects/P/databases', body: { host: 'h' }, status: 400, code: 'VALIDATION_ERROR', says: 'body.name: required' },
  { name: 'register: empty host', method: 'POST', url: '/projects/P/databases', body: reg({ host: '' }), status: 400, code: 'VALIDATION_ERROR', says: 'body.host' },
  { name: 'register: port as string', method: 'POST', url: '/projects/P/databases', body: reg({ port: '5432' }), status: 400, code: 'VALIDATION_ERROR', says: 'body.port' },
  { name: 'register: port out of range', method: 'POST', url: '/projects/P/databases', body: reg({ port: 70000 }), status: 400, code: 'VALIDATION_ERROR', says: 'body.port: expected a number from 1 to 65535' },
  { name: 'register: bad sslmode', method: 'POST', url: '/projects/P/databases', body: reg({ sslmode: 'sometimes' }), status: 400, code: 'VALIDATION_ERROR', says: 'body.sslmode' },
  { name: 'register: password not a string', method: 'POST', url: '/projects/P/databases', body: reg({ password: 12345 }), status: 400, code: 'VALIDATION_ERROR', says: 'body.password' },
  { name: 'register: unknown field', method: 'POST', url: '/projects/P/databases', body: reg({ colour: 'blue' }), status: 400, code: 'VALIDATION_ERROR', says: 'body.colour: unknown field' },
  { name: 'register: bad name', method: 'POST', url: '/projects/P/databases', body: reg({ name: 'Prod DB' }), status: 400, code: 'VALIDATION_ERROR', says: 'body.name' },
  { name: 'register: two bad fields named', method: 'POST', url: '/projects/P/databases', body: { name: 'UPPER', host: 'h', port: 0 }, status: 400, code: 'VALIDATION_ERROR', says: 'body.port' },
  { name: 'register: duplicate name', method: 'POST', url: '/projects/P/databases', body: { name: 'known', host: 'h2' }, status: 409, code: 'CONFLICT', says: '"known"' },
  { name: 'register: unknown project', method: 'POST', url: '/projects/proj_nothere/databases', body: reg({}), status: 404, code: 'PROJECT_NOT_FOUND', says: 'proj_nothere' },
  // get / url / delete
  { name: 'get: unknown database', method: 'GET', url: '/projects/P/databases/missing', status: 404, code: 'DATABASE_NOT_FOUND', says: '"missing"' },
  { name: 'url: unknown database', method: 'GET', url: '/projects/P/databases/missing/url', status: 404, code: 'DATABASE_NOT_FOUND', says: '"missing"' },
  { name: 'url: unknown query field', method: 'GET', url: '/projects/P/databases/known/url?reveal=true', status: 400, code: 'VALIDATION_ERROR', says: 'query' },
  { name: 'delete: bad delete_data', method: 'DELETE', url: '/projects/P/databases/known?delete_data=yes', status: 400, code: 'VALIDATION_ERROR', says: 'query.delete_data' },
  { name: 'delete: unknown database', method: 'DELETE', url: '/projects/P/databases/missing', status: 404, code: 'DATABASE_NOT_FOUND', says: '"missing"' },
  // pitr
  { name: 'pitr config: unknown database', method: 'GET', url: '/projects/P/databases/missing/pitr/config', status: 404, code: 'DATABASE_NOT_FOUND', says: '"missing"' },
  { name: 'enable: retention 0', method: 'POST', url: '/projects/P/databases/known/pitr/enable', body: { retention_days: 0 }, status: 400, code: 'VALIDATION_ERROR', says: 'body.retention_days: must be at least 1' },
  { name: 'enable: retention as text', method: 'POST', url: '/projects/P/databases/known/pitr/enable', body: { retention_days: 'seven' }, status: 400, code: 'VALIDATION_ERROR', says: 'body.retention_days' },
  { name: 'enable: retention fractional', method: 'POST', url: '/projects/P/databases/known/pitr/enable', body: { retention_days: 1.5 }, status: 400, code: 'VALIDATION_ERROR', says: 'body.retention_days' },
  { name: 'enable: unknown field', method: 'POST', url: '/projects/P/databases/known/pitr/enable', body: { retention_days: 7, base_backup_id: 'x' }, status: 400, code: 'VALIDATION_ERROR', says: 'body.base_backup_id: unknown field' },
  { name: 'enable: unknown database', method: 'POST', url: '/projects/P/databases/missing/pitr/enable', body: {}, status: 404, code: 'DATABASE_NOT_FOUND', says: '"missing"' },
  { name: 'disable: unknown database', method: 'POST', url: '/projects/P/databases/missing/pitr/disable', status: 404, code: 'DATABASE_NOT_FOUND', says: '"missing"' },
  { name: 'wal: bad cursor', method: 'GET', url: '/projects/P/databases/known/pitr/wal?cursor=%24%24', status: 400, code: 'VALIDATION_ERROR', says: 'query.cursor' },
  { name: 'wal: limit too big', method: 'GET', url: '/projects/P/databases/known/pitr/wal?limit=5000', status: 400, code: 'VALIDATION_ERROR', says: 'query.limit: must be at most 1000' },
  { name: 'wal: unknown database', method: 'GET', url: '/projects/P/databases/missing/pitr/wal', status: 404, code: 'DATABASE_NOT_FOUND', says: '"missing"' },
  { name: 'receiver-status: PITR off', method: 'GET', url: '/projects/P/databases/known/pitr/receiver-status', status: 409, code: 'PITR_NOT_ENABLED', says: 'PITR is not enabled' },
  { name: 'receiver-status: unknown database', method: 'GET', url: '/projects/P/databases/missing/pitr/receiver-status', status: 404, code: 'DATABASE_NOT_FOUND', says: '"missing"' },
  { name: 'restart-receiver: PITR off', method: 'POST', url: '/projects/P/databases/known/pitr/restart-receiver', status: 409, code: 'PITR_NOT_ENABLED', says: 'PITR is not enabled' },
];

describe('bad input on database and PITR routes', () => {
  it.each(cases)('$name → $status $code', async (c) => {
    const r = await fx.call(c.method, c.url.replace('/P/', `/${pid}/`), c.body);
    expect(r.json).toMatchObject({ success: false, error: { code: c.code } });
    expect(r.status).toBe(c.status);
    expect(r.json.error.message).toContain(c.says);
  });

  it('a message names every bad field at once', async () => {
    const r = await fx.call('POST', `/projects/${pid}/databases`, { name: 'UPPER', host: 'h', port: 0 });
    expect(r.json.error.message).toContain('body.name');
    expect(r.json.error.message).toContain('body.port');
  });

  it('the OpenAPI document lists the new routes', async () => {
    const doc = (await fx.call('GET', '/openapi.json', undefined, {}, null)).json as { paths: Record<string, Record<string, unknown>> };
    const paths = Object.keys(doc.paths);
    for (const p of ['/projects/{project_id}/databases', '/projects/{project_id}/databases/{name}/url', '/projects/{project_id}/databases/{name}/pitr/wal', '/projects/{project_id}/databases/{name}/pitr/receiver-status']) {
      expect(paths).toContain(p);
    }
  });

  it('disable needs no body', async () => {
    const r = await fx.call('POST', `/projects/${pid}/databases/known/pitr/disable`);
    expect(r.status).toBe(200);
    expect(r.json.data).toMatchObject({ enabled: false });
  });
});

// No token, bad tokens, another project's token, malformed ids, JSON and content types on every
// route: generated from the OpenAPI document in api-openapi-bad-input.test.ts.
describe('rate limits and secrets on database and PITR routes', () => {
  it('database routes spend rate-limit tokens (free tier: burst 10)', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push((await fx.call('GET', `/projects/${pid}/databases/known`, undefined, {}, freeToken)).status);
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(200));
    expect(statuses[10]).toBe(429);
  });

  it('the registered password appears in no response and no log line; the registry object holds it', async () => {
    const got = await fx.call('GET', `/projects/${pid}/databases/known`);
    expect(got.json.data).toMatchObject({ host: 'db.invalid', user: 'replicator', database: 'app', sslmode: 'require' });
    const url = await fx.call('GET', `/projects/${pid}/databases/known/url`);
    expect(url.json.data.connection_string).toBe('postgresql://replicator@db.invalid:5432/app?sslmode=require');
    for (const b of fx.bodies) expect(b).not.toContain(PASSWORD);
    for (const l of fx.logs) expect(l).not.toContain(PASSWORD);
    const rec = await fx.daemon.repo.store.getBuffer(`registry/databases/${pid}/known.json`);
    expect(rec.toString('utf8')).toContain(PASSWORD);
  });
});
