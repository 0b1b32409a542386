import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, startApiFixture, type ApiFixture } from './api-fixture.js';

let fx: ApiFixture;
let admin: string;
let projectId: string;

beforeAll(async () => {
  fx = await startApiFixture();
  admin = await fx.token(['*']);
  projectId = (await fx.projects.create('existing')).id;
});
afterAll(async () => fx?.close());

interface Case {
  name: string;
  method: 'GET' | 'POST' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  /** A raw string is sent as-is (with application/json unless headers say otherwise). */
  payload?: string;
  status: number;
  code: string;
  /** The message must contain this (the field path, or the exact reason). */
  says: string;
}

const json = { 'content-type': 'application/json' };
const b64 = (s: string) => Buffer.from(s).toString('base64url');

// Malformed JSON, content types, arrays, unknown fields and malformed ids on every route are
// generated from the OpenAPI document (api-openapi-bad-input.test.ts); these are the route's own.
const cases: Case[] = [
  // GET /projects
  { name: 'limit 0', method: 'GET', url: '/projects?limit=0', status: 400, code: 'VALIDATION_ERROR', says: 'query.limit: must be at least 1' },
  { name: 'limit 1001', method: 'GET', url: '/projects?limit=1001', status: 400, code: 'VALIDATION_ERROR', says: 'query.limit: must be at most 1000' },
  { name: 'limit not a number', method: 'GET', url: '/projects?limit=ten', status: 400, code: 'VALIDATION_ERROR', says: 'query.limit' },
  { name: 'limit given twice', method: 'GET', url: '/projects?limit=1&limit=2', status: 400, code: 'VALIDATION_ERROR', says: 'query.limit' },
  { name: 'negative limit', method: 'GET', url: '/projects?limit=-5', status: 400, code: 'VALIDATION_ERROR', says: 'query.limit' },
  { name: 'unknown query field', method: 'GET', url: '/projects?page=2', status: 400, code: 'VALIDATION_ERROR', says: 'query.page: unknown field' },
  { name: 'cursor not base64url', method: 'GET', url: '/projects?cursor=%24%24%24', status: 400, code: 'VALIDATION_ERROR', says: 'query.cursor' },
  { name: 'cursor not ours', method: 'GET', url: `/projects?cursor=${b64('{"a":1}')}`, status: 400, code: 'VALIDATION_ERROR', says: 'query.cursor' },
  { name: 'cursor wrong arity', method: 'GET', url: `/projects?cursor=${b64('["x"]')}`, status: 400, code: 'VALIDATION_ERROR', says: 'query.cursor' },
  { name: 'cursor empty', method: 'GET', url: '/projects?cursor=', status: 400, code: 'VALIDATION_ERROR', says: 'query.cursor' },
  // POST /projects
  { name: 'empty JSON body', method: 'POST', url: '/projects', headers: json, payload: '', status: 400, code: 'VALIDATION_ERROR', says: 'request body is empty' },
  { name: 'no body at all', method: 'POST', url: '/projects', status: 400, code: 'VALIDATION_ERROR', says: 'body: required' },
  { name: 'missing field', method: 'POST', url: '/projects', headers: json, payload: '{}', status: 400, code: 'VALIDATION_ERROR', says: 'body.name: required' },
  { name: 'wrong type', method: 'POST', url: '/projects', headers: json, payload: '{"name": 42}', status: 400, code: 'VALIDATION_ERROR', says: 'body.name: expected string' },
  { name: 'unknown field', method: 'POST', url: '/projects', headers: json, payload: '{"name":"ok","region":"x"}', status: 400, code: 'VALIDATION_ERROR', says: 'body.region: unknown field' },
  { name: 'bad name', method: 'POST', url: '/projects', headers: json, payload: '{"name":"Bad Name!"}', status: 400, code: 'VALIDATION_ERROR', says: 'body.name: expected 1-63 characters' },
  { name: 'name too long', method: 'POST', url: '/projects', headers: json, payload: JSON.stringify({ name: `a${'b'.repeat(63)}` }), status: 400, code: 'VALIDATION_ERROR', says: 'body.name' },
  { name: 'idempotency key wrong type', method: 'POST', url: '/projects', headers: json, payload: '{"name":"ok","idempotency_key":5}', status: 400, code: 'VALIDATION_ERROR', says: 'body.idempotency_key' },
  { name: 'idempotency header too long', method: 'POST', url: '/projects', headers: { ...json, 'idempotency-key': 'k'.repeat(256) }, payload: '{"name":"ok"}', status: 400, code: 'VALIDATION_ERROR', says: 'headers.idempotency-key' },
  { name: 'idempotency header and body differ', method: 'POST', url: '/projects', headers: { ...json, 'idempotency-key': 'a' }, payload: '{"name":"ok","idempotency_key":"b"}', status: 400, code: 'VALIDATION_ERROR', says: 'body.idempotency_key' },
  // GET/DELETE /projects/:id
  { name: 'get: malformed id', method: 'GET', url: '/projects/-not-an-id', status: 400, code: 'VALIDATION_ERROR', says: 'params.id: expected a project id' },
  // A well-formed id that names no project (API ids are proj_…, the configuration file's are names).
  { name: 'get: unknown name-like id', method: 'GET', url: '/projects/not-a-project', status: 404, code: 'PROJECT_NOT_FOUND', says: 'project not-a-project not found' },
  { name: 'get: unknown id', method: 'GET', url: '/projects/proj_missing', status: 404, code: 'PROJECT_NOT_FOUND', says: 'proj_missing' },
  { name: 'delete: unknown id', method: 'DELETE', url: '/projects/proj_missing', status: 404, code: 'PROJECT_NOT_FOUND', says: 'proj_missing' },
  // Methods and paths nobody registered
  { name: 'PUT on a GET route', method: 'POST', url: '/projects/proj_x', headers: json, payload: '{}', status: 404, code: 'NOT_FOUND', says: 'no route POST /projects/proj_x' },
];

describe('bad input on every endpoint is a specific 4xx, never 500', () => {
  it.each(cases)('$method $url: $name', async (c) => {
    const r = await fx.app.inject({
      method: c.method,
      url: c.url,
      headers: { ...bearer(admin), ...(c.headers ?? {}) },
      ...(c.payload !== undefined ? { payload: c.payload } : {}),
    });
    expect(r.statusCode).toBe(c.status);
    const body = r.json();
    expect(body.success).toBe(false);
    expect(body.error.code).toBe(c.code);
    expect(body.error.message).toContain(c.says);
    expect(Object.keys(body)).toEqual(['success', 'error']);
  });

  it('validation does not run before auth: a bad request without a token is AUTH_REQUIRED', async () => {
    const r = await fx.app.inject({ method: 'POST', url: '/projects', headers: json, payload: '{"name":' });
    expect(r.statusCode).toBe(401);
    expect(r.json().error.code).toBe('AUTH_REQUIRED');
  });

  it('the project created in setup is untouched by all of that', async () => {
    const r = await fx.app.inject({ method: 'GET', url: `/projects/${projectId}`, headers: bearer(admin) });
    expect(r.statusCode).toBe(200);
  });
});

describe('secrets never reach responses or logs', () => {
  it('tokens and passwords sent in headers, bodies and URLs are not echoed or logged', async () => {
    const password = 'S3cr3t-pa55word-xyz';
    const conn = `postgresql://app:${password}@db.example:5432/app`;
    const responses = await Promise.all([
      fx.app.inject({ method: 'POST', url: '/projects', headers: bearer(admin), payload: { name: 'ok-name', password } }),
      fx.app.inject({ method: 'POST', url: '/projects', headers: bearer(admin), payload: { name: conn } }),
      fx.app.inject({ method: 'GET', url: `/projects?token=${admin}`, headers: bearer(admin) }),
      fx.app.inject({ method: 'GET', url: `/nowhere?password=${password}&t=${admin}` }),
      fx.app.inject({ method: 'GET', url: '/projects', headers: bearer(`${admin}x`) }),
    ]);
    for (const r of responses) {
      expect(r.statusCode).toBeGreaterThanOrEqual(400);
      expect(r.statusCode).toBeLessThan(500);
      expect(r.body).not.toContain(password);
      expect(r.body).not.toContain(admin);
    }
    const logs = fx.logs.join('');
    expect(logs.length).toBeGreaterThan(0);
    expect(logs).toContain('incoming request');
    expect(logs).not.toContain(admin);
    expect(logs).not.toContain(admin.slice('pitrd_'.length + 13));
    expect(logs).not.toContain(password);
    // The tokens file holds hashes only.
    const { readFile } = await import('node:fs/promises');
    const file = await readFile(fx.tokens.path, 'utf8');
    expect(file).not.toContain(admin.slice('pitrd_'.length + 13));
  });
});
