import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi, MemoryDatabaseRegistry } from '../../src/api/index.js';
import { ObjectStoreProjectStore } from '../../src/service/index.js';
import { FileTokenStore } from '../../src/auth/index.js';
import { createObjectStore, type ObjectStore } from '../../src/storage/index.js';
import { startS3, type S3Server } from '../harness/s3.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';

/** The projects routes over a real S3-protocol server (s3rver in a child process). */
let s3: S3Server;
let store: ObjectStore;
let app: FastifyInstance;
let token: string;
const dir = mkdtempSync(join(tmpdir(), 'pitrd-api-s3-'));

beforeAll(async () => {
  s3 = await startS3();
  store = createObjectStore({
    type: 's3',
    endpoint: s3.endpoint,
    region: s3.region,
    bucket: s3.bucket,
    prefix: 'pitrd',
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
    forcePathStyle: true,
    maxAttempts: 1,
    connectionTimeoutMs: 2000,
    requestTimeoutMs: 5000,
  });
  const tokens = new FileTokenStore(join(dir, 'tokens.json'));
  token = (await tokens.create({ name: 's3', projects: ['*'], tier: 'pro' })).token;
  app = await createApi({ services: { projects: new ObjectStoreProjectStore(store), databases: new MemoryDatabaseRegistry() }, auth: tokens, logger: false, validateResponses: true });
});

afterAll(async () => {
  try {
    await app?.close();
    await store?.close();
  } finally {
    await s3?.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

const auth = () => ({ authorization: `Bearer ${token}` });

describe('projects on S3', () => {
  it('empty bucket lists nothing; create, page, get, delete persist in the bucket', async () => {
    const empty = await app.inject({ method: 'GET', url: '/projects', headers: auth() });
    expect(empty.json()).toEqual({ success: true, data: { projects: [], next_cursor: null } });
    const ids: string[] = [];
    for (const name of ['alpha', 'beta', 'gamma']) {
      const r = await app.inject({ method: 'POST', url: '/projects', headers: auth(), payload: { name } });
      expect(r.statusCode).toBe(201);
      ids.push(r.json().data.id);
    }
    const p1 = (await app.inject({ method: 'GET', url: '/projects?limit=2', headers: auth() })).json().data;
    const p2 = (await app.inject({ method: 'GET', url: `/projects?limit=2&cursor=${p1.next_cursor}`, headers: auth() })).json().data;
    expect([...p1.projects, ...p2.projects].map((p: { id: string }) => p.id).sort()).toEqual([...ids].sort());
    expect(p2.next_cursor).toBeNull();

    // Another daemon (a second store over the same bucket) sees the same projects.
    const other = new ObjectStoreProjectStore(store);
    expect((await other.get(ids[1]!))?.name).toBe('beta');
    expect((await app.inject({ method: 'DELETE', url: `/projects/${ids[1]}`, headers: auth() })).statusCode).toBe(200);
    expect(await other.get(ids[1]!)).toBeNull();
  });

  it('a storage outage is an error envelope with the storage code, never credentials', async () => {
    await s3.stop();
    try {
      const r = await app.inject({ method: 'GET', url: '/projects', headers: auth() });
            const body = r.json();
      expect(body.success).toBe(false);
      expect(r.statusCode).toBe(503);
      expect(body.error.code).toBe('STORAGE_UNAVAILABLE');
      expect(r.body).not.toContain(s3.secretAccessKey);
    } finally {
      await s3.start();
    }
    expect((await app.inject({ method: 'GET', url: '/projects', headers: auth() })).statusCode).toBe(200);
  });
});
