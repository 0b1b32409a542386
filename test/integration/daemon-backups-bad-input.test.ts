/**
 * Bad input and auth on the backup, retention, health and signed-object routes, table-driven,
 * against a daemon started in-process (no Postgres: nothing here reaches a server). Also the
 * alert webhook: a stale-backup alert is POSTed when raised and when it clears.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemonFixture, waitFor, type DaemonFixture } from './daemon-fixture.js';

let fx: DaemonFixture;
let pid: string;
let otherPid: string;
let hook: Server;
const hookBodies: Array<{ event: string; alert: { kind: string; database: string } }> = [];

beforeAll(async () => {
  hook = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      hookBodies.push(JSON.parse(body) as (typeof hookBodies)[number]);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/alerts?token=hook-secret`;
  fx = await startDaemonFixture({}, { schedules: false, alertWebhookUrl: hookUrl });
  pid = (await fx.call('POST', '/projects', { name: 'main-project' })).json.data.id;
  otherPid = (await fx.call('POST', '/projects', { name: 'other' })).json.data.id;
  const reg = await fx.call('POST', `/projects/${pid}/databases`, { name: 'known', host: 'db.invalid', port: 5432, user: 'replicator', password: 'pw-bk-bad-input', dbname: 'app', sslmode: 'require' });
  expect(reg.status).toBe(201);
}, 60_000);

afterAll(async () => {
  try {
    await fx?.close();
  } finally {
    await new Promise<void>((r) => hook?.close(() => r()));
  }
}, 60_000);

interface Case {
  name: string;
  method: 'GET' | 'POST' | 'DELETE';
  /** `P` is replaced with the project id, `O` with the other project's. */
  url: string;
  body?: unknown;
  headers?: Record<string, string>;
  status: number;
  code: string;
  says: string;
}

const B = '/projects/P/databases/known/backups';
const cases: Case[] = [
  { name: 'list: limit 0', method: 'GET', url: `${B}?limit=0`, status: 400, code: 'VALIDATION_ERROR', says: 'query.limit: must be at least 1' },
  { name: 'list: unknown query field', method: 'GET', url: `${B}?type=manual`, status: 400, code: 'VALIDATION_ERROR', says: 'query.type: unknown field' },
  { name: 'list: foreign cursor', method: 'GET', url: `${B}?cursor=${Buffer.from('["a"]').toString('base64url')}`, status: 400, code: 'VALIDATION_ERROR', says: 'query.cursor' },
  { name: 'list: unknown database', method: 'GET', url: '/projects/P/databases/missing/backups', status: 404, code: 'DATABASE_NOT_FOUND', says: '"missing"' },
  { name: 'list: database of another project', method: 'GET', url: '/projects/O/databases/known/backups', status: 404, code: 'DATABASE_NOT_FOUND', says: '"known"' },
  { name: 'create: label not a string', method: 'POST', url: B, body: { label: 42 }, status: 400, code: 'VALIDATION_ERROR', says: 'body.label' },
  { name: 'create: empty label', method: 'POST', url: B, body: { label: '' }, status: 400, code: 'VALIDATION_ERROR', says: 'body.label' },
  { name: 'create: bad idempotency key', method: 'POST', url: B, body: {}, headers: { 'idempotency-key': 'é' }, status: 400, code: 'VALIDATION_ERROR', says: 'headers.idempotency-key' },
  { name: 'create: unknown database', method: 'POST', url: '/projects/P/databases/missing/backups', body: {}, status: 404, code: 'DATABASE_NOT_FOUND', says: '"missing"' },
  { name: 'get: malformed backup id', method: 'GET', url: `${B}/nope!`, status: 400, code: 'VALIDATION_ERROR', says: 'params.backup_id' },
  { name: 'get: unknown backup', method: 'GET', url: `${B}/bkp_nothere`, status: 404, code: 'BACKUP_NOT_FOUND', says: 'bkp_nothere' },
  { name: 'get: unknown query field', method: 'GET', url: `${B}/bkp_nothere?verbose=1`, status: 400, code: 'VALIDATION_ERROR', says: 'query.verbose: unknown field' },
  { name: 'get: unknown database', method: 'GET', url: '/projects/P/databases/missing/backups/bkp_x', status: 404, code: 'DATABASE_NOT_FOUND', says: '"missing"' },
  { name: 'download: unknown backup', method: 'GET', url: `${B}/bkp_nothere/download`, status: 404, code: 'BACKUP_NOT_FOUND', says: 'bkp_nothere' },
  { name: 'delete: bad force', method: 'DELETE', url: `${B}/bkp_nothere?force=yes`, status: 400, code: 'VALIDATION_ERROR', says: 'query.force' },
  { name: 'delete: unknown backup', method: 'DELETE', url: `${B}/bkp_nothere`, status: 404, code: 'BACKUP_NOT_FOUND', says: 'bkp_nothere' },
  { name: 'delete: unknown backup, forced', method: 'DELETE', url: `${B}/bkp_nothere?force=true`, status: 404, code: 'BACKUP_NOT_FOUND', says: 'bkp_nothere' },
  { name: 'retention: bad dry_run', method: 'POST', url: '/projects/P/databases/known/retention/run?dry_run=maybe', status: 400, code: 'VALIDATION_ERROR', says: 'query.dry_run' },
  { name: 'retention: unknown database', method: 'POST', url: '/projects/P/databases/missing/retention/run?dry_run=true', status: 404, code: 'DATABASE_NOT_FOUND', says: '"missing"' },
  { name: 'health: unknown database', method: 'GET', url: '/projects/P/databases/missing/health', status: 404, code: 'DATABASE_NOT_FOUND', says: '"missing"' },
  { name: 'health: unknown query field', method: 'GET', url: '/projects/P/databases/known/health?all=1', status: 400, code: 'VALIDATION_ERROR', says: 'query.all: unknown field' },
  { name: 'object: no signature', method: 'GET', url: '/v1/objects/databases/known/backups/bkp_x/base.tar.gz', status: 403, code: 'SIGNED_URL_INVALID', says: 'missing or malformed' },
  { name: 'object: forged signature', method: 'GET', url: `/v1/objects/databases/known/backups/bkp_x/base.tar.gz?expires=9999999999&sig=${'0'.repeat(64)}`, status: 403, code: 'SIGNED_URL_INVALID', says: 'bad signature' },
];

describe('bad input on backup, retention and health routes', () => {
  it.each(cases)('$name → $status $code', async (c) => {
    const r = await fx.call(c.method, c.url.replace('/P/', `/${pid}/`).replace('/O/', `/${otherPid}/`), c.body, c.headers ?? {});
    expect(r.json).toMatchObject({ success: false, error: { code: c.code } });
    expect(r.status).toBe(c.status);
    expect(r.json.error.message).toContain(c.says);
  });

  it('a dry retention run of a database without backups plans nothing', async () => {
    const r = await fx.call('POST', `/projects/${pid}/databases/known/retention/run?dry_run=true`);
    expect(r.status).toBe(200);
    expect(r.json.data).toMatchObject({ database: 'known', dry_run: true, deleted: { backups: [], wal_segments: 0 } });
    expect(r.json.data.plan.delete_backups).toEqual([]);
  });

  it('the OpenAPI document lists the new routes', async () => {
    const doc = (await fx.call('GET', '/openapi.json', undefined, {}, null)).json as { paths: Record<string, Record<string, unknown>> };
    const paths = Object.keys(doc.paths);
    for (const p of [
      '/projects/{project_id}/databases/{name}/backups',
      '/projects/{project_id}/databases/{name}/backups/{backup_id}',
      '/projects/{project_id}/databases/{name}/backups/{backup_id}/download',
      '/projects/{project_id}/databases/{name}/retention/run',
      '/projects/{project_id}/databases/{name}/health',
    ]) {
      expect(paths).toContain(p);
    }
  });
});

// Auth, another project's token, malformed ids and bodies on every route: generated from the
// OpenAPI document in api-openapi-bad-input.test.ts.

describe('alert webhook', () => {
  it('POSTs a raised alert once, and the clearing when the database goes', async () => {
    const h = await fx.call('GET', `/projects/${pid}/databases/known/health`);
    expect(h.json.data.alerts.map((a: { kind: string }) => a.kind)).toEqual(['backup_stale']);
    await fx.call('GET', `/projects/${pid}/databases/known/health`);
    const raised = hookBodies.filter((b) => b.event === 'alert.raised' && b.alert.database === 'known');
    expect(raised.map((b) => b.alert.kind)).toEqual(['backup_stale']);

    expect((await fx.call('DELETE', `/projects/${pid}/databases/known`)).status).toBe(200);
    await fx.daemon.health.evaluate();
    await waitFor('the cleared alert', () => hookBodies.some((b) => b.event === 'alert.cleared' && b.alert.kind === 'backup_stale'), 10_000, 20);
    // The webhook URL's query (a token) is never logged.
    for (const l of fx.logs) expect(l).not.toContain('hook-secret');
  });
});
