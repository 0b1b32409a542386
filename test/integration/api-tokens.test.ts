import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createApi, createApiLogger, defineRoute, MemoryDatabaseRegistry } from '../../src/api/index.js';
import { ObjectStoreProjectStore } from '../../src/service/index.js';
import { FileTokenStore, formatToken, parseToken } from '../../src/auth/index.js';
import { createObjectStore } from '../../src/storage/index.js';
import { Writable } from 'node:stream';

const dir = mkdtempSync(join(tmpdir(), 'pitrd-tokens-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('FileTokenStore', () => {
  it('verifies only the exact secret of an active token; writes leave no temp files', async () => {
    const store = new FileTokenStore(join(dir, 'a', 'tokens.json'));
    const { token, record } = await store.create({ name: 'x', projects: ['proj_a', 'proj_a', 'proj_b'] });
    expect(record.projects).toEqual(['proj_a', 'proj_b']);
    expect(record.tier).toBe('free');
    expect(await store.verify(token)).toEqual({ tokenId: record.id, name: 'x', projects: ['proj_a', 'proj_b'], tier: 'free' });
    const { secret } = parseToken(token)!;
    const flipped = secret.slice(0, -1) + (secret.endsWith('A') ? 'B' : 'A');
    expect(await store.verify(formatToken(record.id, flipped))).toBeNull();
    expect(await store.verify(formatToken('000000000000', secret))).toBeNull();
    await store.revoke(record.id);
    expect(await store.verify(token)).toBeNull();
    expect(readdirSync(join(dir, 'a'))).toEqual(['tokens.json']);
    await expect(store.create({ name: 'none', projects: [] })).rejects.toMatchObject({ code: 'VALIDATION_ERROR' });
  });

  it('a malformed tokens file is CONFIG_INVALID naming the file; the API answers 500 without details', async () => {
    const path = join(dir, 'broken.json');
    writeFileSync(path, '{"version":1,"tokens":[{"id":"nothex"}]}');
    const store = new FileTokenStore(path);
    await expect(store.list()).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining(path) });
    writeFileSync(path, '{not json');
    await expect(store.list()).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining('not valid JSON') });

    const logs: string[] = [];
    const sink = new Writable({ write: (c: Buffer, _e, cb) => (logs.push(c.toString()), cb()) });
    const objects = createObjectStore({ type: 'fs', path: join(dir, 'repo') });
    const app = await createApi({
      services: { projects: new ObjectStoreProjectStore(objects), databases: new MemoryDatabaseRegistry() },
      auth: store,
      logger: createApiLogger({ destination: sink }),
    });
    try {
      const r = await app.inject({ method: 'GET', url: '/projects', headers: { authorization: `Bearer ${formatToken('0123456789ab', 'C'.repeat(43))}` } });
      expect(r.statusCode).toBe(500);
      expect(r.json().error.code).toBe('INTERNAL_ERROR');
      expect(r.body).not.toContain(path);
      expect(logs.join('')).toContain('not valid JSON');
    } finally {
      await app.close();
      await objects.close();
    }
  });
});

describe('createApi refuses unsafe route declarations', () => {
  const base = () => {
    const objects = createObjectStore({ type: 'fs', path: join(dir, 'repo2') });
    return { services: { projects: new ObjectStoreProjectStore(objects), databases: new MemoryDatabaseRegistry() }, auth: new FileTokenStore(join(dir, 't.json')), logger: false as const };
  };
  it('a route without an auth/rate-limit policy', async () => {
    const route = defineRoute({ method: 'GET', url: '/x', summary: 'x', response: z.object({}), handler: async () => ({}) });
    await expect(createApi({ ...base(), routes: [route] })).rejects.toThrow(/GET \/x has no auth\/rate-limit policy/);
  });
  it('a creating POST that is not idempotent', async () => {
    const route = defineRoute({
      method: 'POST',
      url: '/x',
      summary: 'x',
      status: 201,
      body: z.strictObject({}),
      response: z.object({}),
      policy: { auth: 'token', rateLimit: 'standard' },
      handler: async () => ({}),
    });
    await expect(createApi({ ...base(), routes: [route] })).rejects.toThrow(/not idempotent/);
  });
});
