import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineRoute } from '../../src/api/index.js';
import { VERSION } from '../../src/version.js';
import { freePort } from '../harness/index.js';
import { bearer, startApiFixture, type ApiFixture } from './api-fixture.js';

let fx: ApiFixture;
let admin: string; // scoped to '*'

beforeAll(async () => {
  fx = await startApiFixture({
    metricsTokenHashes: [createHash('sha256').update('scrape-secret').digest('hex')],
    routes: [
      // A route that fails the way a service bug would: its message carries a connection string.
      defineRoute({
        method: 'GET',
        url: '/test/boom',
        summary: 'fails',
        response: z.object({}),
        policy: { auth: 'token', rateLimit: 'standard' },
        async handler() {
          throw new Error('connect failed: postgresql://replicator:hunter2-secret@db.internal:5432/app');
        },
      }),
    ],
  });
  admin = await fx.token(['*']);
});
afterAll(async () => fx?.close());

describe('envelope', () => {
  it('GET / is public and enveloped', async () => {
    const r = await fx.app.inject({ method: 'GET', url: '/' });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ success: true, data: { name: 'pitrd', version: VERSION, status: 'healthy' } });
  });

  it('unknown route is NOT_FOUND in the envelope', async () => {
    const r = await fx.app.inject({ method: 'GET', url: '/nope?x=1' });
    expect(r.statusCode).toBe(404);
    expect(r.json()).toEqual({ success: false, error: { code: 'NOT_FOUND', message: 'no route GET /nope' } });
  });

  it('an unexpected error is INTERNAL_ERROR with a generic message; details only in the (scrubbed) log', async () => {
    const r = await fx.app.inject({ method: 'GET', url: '/test/boom', headers: bearer(admin) });
    expect(r.statusCode).toBe(500);
    const body = r.json();
    expect(body.success).toBe(false);
    expect(body.error.code).toBe('INTERNAL_ERROR');
    expect(r.body).not.toMatch(/hunter2|stack|at .*\.ts/);
    const logs = fx.logs.join('');
    expect(logs).toContain('connect failed: postgresql://replicator:[REDACTED]@db.internal');
    expect(logs).not.toContain('hunter2');
  });
});

describe('auth', () => {
  it('no header, malformed header, unknown token, revoked token: AUTH_REQUIRED 401', async () => {
    const { token, record } = await fx.tokens.create({ name: 'to-revoke', projects: ['*'], tier: 'pro' });
    const ok = await fx.app.inject({ method: 'GET', url: '/projects', headers: bearer(token) });
    expect(ok.statusCode).toBe(200);
    await fx.tokens.revoke(record.id);
    const forged = `pitrd_${record.id}_${'A'.repeat(43)}`;
    const cases: Array<Record<string, string>> = [{}, { authorization: 'Basic abc' }, { authorization: 'Bearer not-a-token' }, bearer(forged), bearer(token)];
    for (const headers of cases) {
      const r = await fx.app.inject({ method: 'GET', url: '/projects', headers });
      expect(r.statusCode, JSON.stringify(headers)).toBe(401);
      expect(r.json().error.code).toBe('AUTH_REQUIRED');
    }
  });

  it("another project's token gets PROJECT_NOT_FOUND, same as a missing project", async () => {
    const a = (await fx.app.inject({ method: 'POST', url: '/projects', headers: bearer(admin), payload: { name: 'scoped-a' } })).json().data;
    const b = (await fx.app.inject({ method: 'POST', url: '/projects', headers: bearer(admin), payload: { name: 'scoped-b' } })).json().data;
    const onlyA = await fx.token([a.id]);
    expect((await fx.app.inject({ method: 'GET', url: `/projects/${a.id}`, headers: bearer(onlyA) })).json()).toEqual({ success: true, data: a });
    const other = await fx.app.inject({ method: 'GET', url: `/projects/${b.id}`, headers: bearer(onlyA) });
    const missing = await fx.app.inject({ method: 'GET', url: '/projects/proj_doesnotexist', headers: bearer(onlyA) });
    expect(other.statusCode).toBe(404);
    expect(other.json().error).toEqual({ code: 'PROJECT_NOT_FOUND', message: `project ${b.id} not found` });
    expect(missing.json().error.code).toBe('PROJECT_NOT_FOUND');
    const del = await fx.app.inject({ method: 'DELETE', url: `/projects/${b.id}`, headers: bearer(onlyA) });
    expect(del.json().error.code).toBe('PROJECT_NOT_FOUND');
    const list = (await fx.app.inject({ method: 'GET', url: '/projects?limit=1000', headers: bearer(onlyA) })).json().data;
    expect(list.projects.map((p: { id: string }) => p.id)).toEqual([a.id]);
    const create = await fx.app.inject({ method: 'POST', url: '/projects', headers: bearer(onlyA), payload: { name: 'nope' } });
    expect(create.statusCode).toBe(403);
    expect(create.json().error.code).toBe('FORBIDDEN');
  });
});

describe('projects', () => {
  it('create, get, duplicate name, delete refused while databases exist, delete', async () => {
    const c = await fx.app.inject({ method: 'POST', url: '/projects', headers: bearer(admin), payload: { name: 'myapp' } });
    expect(c.statusCode).toBe(201);
    const p = c.json().data;
    expect(p.id).toMatch(/^proj_[a-z0-9]+$/);
    expect(p.name).toBe('myapp');
    const dup = await fx.app.inject({ method: 'POST', url: '/projects', headers: bearer(admin), payload: { name: 'myapp' } });
    expect(dup.statusCode).toBe(409);
    expect(dup.json().error.code).toBe('CONFLICT');
    fx.databases.add(p.id, 'production');
    const refused = await fx.app.inject({ method: 'DELETE', url: `/projects/${p.id}`, headers: bearer(admin) });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error.message).toContain('production');
    fx.databases.remove(p.id, 'production');
    const del = await fx.app.inject({ method: 'DELETE', url: `/projects/${p.id}`, headers: bearer(admin) });
    expect(del.json()).toEqual({ success: true, data: { id: p.id, deleted: true } });
    expect((await fx.app.inject({ method: 'GET', url: `/projects/${p.id}`, headers: bearer(admin) })).statusCode).toBe(404);
    // Persisted through the object store: a fresh store instance sees the same projects.
    const stored = JSON.parse((await fx.store.getBuffer('api/projects.json')).toString());
    expect(stored.projects.some((x: { name: string }) => x.name === 'scoped-a')).toBe(true);
  });

  it('pagination walks > limit projects with stable cursors, unaffected by inserts', async () => {
    const names = Array.from({ length: 23 }, (_, i) => `page-${String(i).padStart(2, '0')}`);
    for (const name of names) {
      fx.clock.now += 1000;
      await fx.projects.create(name);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const url = `/projects?limit=5${cursor ? `&cursor=${cursor}` : ''}`;
      const r = await fx.app.inject({ method: 'GET', url, headers: bearer(admin) });
      expect(r.statusCode).toBe(200);
      const data = r.json().data as { projects: Array<{ name: string }>; next_cursor: string | null };
      expect(data.projects.length).toBeLessThanOrEqual(5);
      seen.push(...data.projects.map((x) => x.name));
      if (pages === 1) {
        // An insert while paging (sorts last by created_at) is picked up once, nothing repeats.
        fx.clock.now += 1000;
        await fx.projects.create('page-late');
      }
      cursor = data.next_cursor;
      pages++;
    } while (cursor !== null);
    const paged = seen.filter((n) => n.startsWith('page-'));
    expect(paged).toEqual([...names, 'page-late']);
    expect(new Set(seen).size).toBe(seen.length);
    // The same cursor gives the same page twice.
    const first = (await fx.app.inject({ method: 'GET', url: '/projects?limit=3', headers: bearer(admin) })).json().data;
    const a = await fx.app.inject({ method: 'GET', url: `/projects?limit=3&cursor=${first.next_cursor}`, headers: bearer(admin) });
    const b = await fx.app.inject({ method: 'GET', url: `/projects?limit=3&cursor=${first.next_cursor}`, headers: bearer(admin) });
    expect(a.json()).toEqual(b.json());
  });
});

describe('rate limits', () => {
  it('free tier: burst of 10, then 429 with Retry-After; refills with the injected clock', async () => {
    const free = await fx.token(['*'], 'free');
    const get = () => fx.app.inject({ method: 'GET', url: '/projects?limit=1', headers: bearer(free) });
    for (let i = 0; i < 10; i++) {
      const r = await get();
      expect(r.statusCode).toBe(200);
      expect(r.headers['x-ratelimit-limit']).toBe('60');
      expect(r.headers['x-ratelimit-remaining']).toBe(String(9 - i));
    }
    const limited = await get();
    expect(limited.statusCode).toBe(429);
    expect(limited.json().error.code).toBe('RATE_LIMIT_EXCEEDED');
    expect(limited.headers['retry-after']).toBe('1');
    expect(limited.headers['x-ratelimit-remaining']).toBe('0');
    fx.clock.now += 1000; // 60/min = one token per second
    expect((await get()).statusCode).toBe(200);
    expect((await get()).statusCode).toBe(429);
    // Buckets are per token: the admin (pro) token is unaffected; health is never limited.
    expect((await fx.app.inject({ method: 'GET', url: '/projects?limit=1', headers: bearer(admin) })).statusCode).toBe(200);
    expect((await fx.app.inject({ method: 'GET', url: '/' })).statusCode).toBe(200);
  });
});

describe('idempotency', () => {
  it('same key returns the first result without running the handler again; other body is 409', async () => {
    const before = (await fx.projects.list()).length;
    const send = (name: string, key = 'create-idem-1') =>
      fx.app.inject({ method: 'POST', url: '/projects', headers: { ...bearer(admin), 'idempotency-key': key }, payload: { name } });
    const first = await send('idem-one');
    const again = await send('idem-one');
    expect(first.statusCode).toBe(201);
    expect(again.statusCode).toBe(201);
    expect(again.body).toBe(first.body);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect((await fx.projects.list()).length).toBe(before + 1);
    const other = await send('idem-two');
    expect(other.statusCode).toBe(409);
    expect(other.json().error.code).toBe('CONFLICT');
    // The body field spelling of seed 000 works the same way.
    const viaBody = () => fx.app.inject({ method: 'POST', url: '/projects', headers: bearer(admin), payload: { name: 'idem-body', idempotency_key: 'k-body' } });
    const b1 = await viaBody();
    const b2 = await viaBody();
    expect(b1.statusCode).toBe(201);
    expect(b2.body).toBe(b1.body);
    // A final client error is replayed too (the name is taken: same 409 again, not re-run).
    const dupe = await send('idem-one', 'create-idem-dup');
    expect((await send('idem-one', 'create-idem-dup')).body).toBe(dupe.body);
  });

  it('concurrent duplicates wait for the first and get its response', async () => {
    const before = (await fx.projects.list()).length;
    const reqs = Array.from({ length: 5 }, () =>
      fx.app.inject({ method: 'POST', url: '/projects', headers: { ...bearer(admin), 'idempotency-key': 'concurrent-1' }, payload: { name: 'concurrent' } }),
    );
    const results = await Promise.all(reqs);
    expect(results.map((r) => r.statusCode)).toEqual([201, 201, 201, 201, 201]);
    expect(new Set(results.map((r) => r.body)).size).toBe(1);
    expect((await fx.projects.list()).length).toBe(before + 1);
  });

  it('keys expire after 24 h and are per token', async () => {
    const send = (name: string, tok = admin) =>
      fx.app.inject({ method: 'POST', url: '/projects', headers: { ...bearer(tok), 'idempotency-key': 'expiring' }, payload: { name } });
    expect((await send('exp-1')).statusCode).toBe(201);
    const otherAdmin = await fx.token(['*']);
    expect((await send('exp-2', otherAdmin)).statusCode).toBe(201);
    fx.clock.now += 24 * 3600 * 1000 + 1;
    expect((await send('exp-3')).statusCode).toBe(201);
  });
});

describe('openapi and metrics', () => {
  it('OpenAPI lists every registered route with its schemas', async () => {
    const r = await fx.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(r.statusCode).toBe(200);
    const doc = r.json();
    expect(doc.openapi).toBe('3.0.3');
    const ops = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([p, m]) => Object.keys(m).map((k) => `${k.toUpperCase()} ${p}`));
    expect(ops.sort()).toEqual(['DELETE /projects/{id}', 'GET /', 'GET /auth/me', 'GET /metrics', 'GET /openapi.json', 'GET /projects', 'GET /projects/{id}', 'GET /test/boom', 'POST /projects'].sort());
    const create = doc.paths['/projects'].post;
    expect(create.requestBody.content['application/json'].schema.properties.name.pattern).toBeDefined();
    expect(create.requestBody.content['application/json'].schema.additionalProperties).toBe(false);
    expect(create.requestBody.content['application/json'].schema.properties.idempotency_key.type).toBe('string');
    expect(create.parameters.some((p: { name: string }) => p.name === 'Idempotency-Key')).toBe(true);
    expect(create.responses['201'].content['application/json'].schema.properties.data.properties.id).toBeDefined();
    const list = doc.paths['/projects'].get;
    expect(list.parameters.map((p: { name: string }) => p.name).sort()).toEqual(['cursor', 'limit']);
    expect(doc.paths['/projects/{id}'].get.parameters[0]).toMatchObject({ name: 'id', in: 'path', required: true });
    expect(doc.paths['/'].get.security).toEqual([]);
    expect(list['x-pitrd-rate-limit']).toBe('standard');
  });

  it('metrics need a token (API or scrape-only) and count requests', async () => {
    expect((await fx.app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(401);
    const scrape = await fx.app.inject({ method: 'GET', url: '/metrics', headers: bearer('scrape-secret') });
    expect(scrape.statusCode).toBe(200);
    expect(scrape.headers['content-type']).toContain('text/plain; version=0.0.4');
    expect(scrape.body).toMatch(/^pitrd_http_requests_total\{method="GET",route="\/projects",status="200"\} \d+$/m);
    expect(scrape.body).toMatch(/^pitrd_http_request_duration_seconds_bucket\{method="GET",route="\/",le="\+Inf"\} \d+$/m);
    expect((await fx.app.inject({ method: 'GET', url: '/metrics', headers: bearer(admin) })).statusCode).toBe(200);
  });
});

describe('real socket', () => {
  it('serves over 127.0.0.1 with fetch', async () => {
    const port = await freePort();
    await fx.app.listen({ host: '127.0.0.1', port });
    const base = `http://127.0.0.1:${port}`;
    const health = await fetch(`${base}/`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ success: true, data: { name: 'pitrd', version: VERSION, status: 'healthy' } });
    const bad = await fetch(`${base}/projects`, { method: 'POST', headers: { ...bearer(admin), 'content-type': 'application/json' }, body: '{"name":' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ success: false, error: { code: 'VALIDATION_ERROR', message: 'request body is not valid JSON' } });
    const created = await fetch(`${base}/projects`, { method: 'POST', headers: { ...bearer(admin), 'content-type': 'application/json' }, body: JSON.stringify({ name: 'over-tcp' }) });
    expect(created.status).toBe(201);
  });
});
