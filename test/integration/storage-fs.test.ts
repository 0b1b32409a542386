import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, type Dirent } from 'node:fs';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isPitrdError, type PitrdError } from '../../src/errors.js';
import { createObjectStore, signFsUrl, verifyFsSignedUrl, type ObjectStore } from '../../src/storage/index.js';
import { freePort } from '../harness/ports.js';
import { storageConformance, type ConformanceHarness } from './storage-conformance.js';

/**
 * The fs driver's signed URLs are served by the daemon's API; this tiny server does what that
 * route does (verify, then stream the object) so the conformance suite can GET over real HTTP.
 */
async function serveSigned(store: ObjectStore, secret: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    void (async () => {
      try {
        const { key } = verifyFsSignedUrl(secret, req.url ?? '/');
        const body = await store.get(key);
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        body.pipe(res);
      } catch (err) {
        const status = isPitrdError(err) ? err.httpStatus : 500;
        res.writeHead(status).end(isPitrdError(err) ? err.code : 'error');
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return server;
}

async function fsHarness(): Promise<ConformanceHarness & { dir: string; secret: string; port: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'pitrd-fs-conf-'));
  const secret = randomBytes(32).toString('hex');
  const port = await freePort();
  const store = createObjectStore({ type: 'fs', path: dir, signingSecret: secret, publicBaseUrl: `http://127.0.0.1:${port}` });
  const server = await serveSigned(store, secret, port);
  return {
    store,
    dir,
    secret,
    port,
    async teardown() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

storageConformance('fs (local directory)', fsHarness, { outages: false, byteOrderAcrossSegments: true });

describe('fs driver specifics', () => {
  let h: Awaited<ReturnType<typeof fsHarness>>;
  beforeAll(async () => {
    h = await fsHarness();
  });
  afterAll(async () => {
    await h?.teardown();
  });

  /** Every file under dir, relative, including temp files. */
  function filesUnder(dir: string): string[] {
    return (readdirSync(dir, { recursive: true, withFileTypes: true }) as Dirent[])
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath ?? (e as unknown as { path: string }).path, e.name).slice(dir.length + 1))
      .sort();
  }

  it('the HTTP server refuses tampered and expired signed URLs', async () => {
    await h.store.put('sig/x', Buffer.from('payload'));
    const { url } = await h.store.signedUrl('sig/x', 60);
    expect((await fetch(url)).status).toBe(200);
    const tampered = url.replace('/sig/x?', '/sig/y?');
    const res = await fetch(tampered);
    expect(res.status).toBe(403);
    expect(await res.text()).toBe('SIGNED_URL_INVALID');
    const expired = signFsUrl({ publicBaseUrl: `http://127.0.0.1:${h.port}`, secret: h.secret, key: 'sig/x', expiresInSeconds: 1, now: Date.now() - 3_600_000 });
    const res2 = await fetch(expired.url);
    expect(res2.status).toBe(403);
    expect(await res2.text()).toBe('SIGNED_URL_EXPIRED');
  });

  it('a failing body stream leaves neither the object nor a temp file; the old version survives', async () => {
    await h.store.put('atomic/obj', Buffer.from('old version'));
    const failing = new Readable({
      read() {
        this.push(Buffer.alloc(64 * 1024, 1));
        this.destroy(new Error('source broke mid-stream'));
      },
    });
    await expect(h.store.put('atomic/obj', failing)).rejects.toThrow();
    await expect(h.store.put('atomic/new', new Readable({ read() { this.destroy(new Error('boom')); } }))).rejects.toThrow();
    expect((await h.store.getBuffer('atomic/obj')).toString()).toBe('old version');
    expect(await h.store.head('atomic/new')).toBeNull();
    expect(filesUnder(join(h.dir, 'atomic'))).toEqual(['obj']);
    // A contentLength that does not match is refused the same way.
    await expect(h.store.put('atomic/len', Buffer.from('abc'), { contentLength: 4 })).rejects.toMatchObject({ code: 'VALIDATION_ERROR' });
    expect(await h.store.head('atomic/len')).toBeNull();
  });

  it('concurrent create-only puts of one key: exactly one wins', async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => h.store.put('race/seg', Buffer.from(`writer ${i}`), { ifNoneMatch: true })),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    expect(won.length).toBe(1);
    for (const r of results) if (r.status === 'rejected') expect((r.reason as PitrdError).code).toBe('OBJECT_EXISTS');
    expect(filesUnder(join(h.dir, 'race'))).toEqual(['seg']);
  });

  it('pages through nested keys in byte order with tokens inside subtrees', async () => {
    const keys = ['tree/a.b', 'tree/a/1', 'tree/a/2/x', 'tree/a/2/y', 'tree/a0', 'tree/a-', 'tree/b/1', 'tree/c'];
    await Promise.all(keys.map((k) => h.store.put(k, Buffer.from(k))));
    const expected = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    for (const limit of [1, 2, 3, 5]) {
      const seen: string[] = [];
      let token: string | undefined;
      do {
        const page = await h.store.list('tree/', { limit, ...(token ? { token } : {}) });
        seen.push(...page.objects.map((o) => o.key));
        token = page.nextToken;
      } while (token);
      expect(seen).toEqual(expected);
    }
    expect((await h.store.list('tree/a/2')).objects.map((o) => o.key)).toEqual(['tree/a/2/x', 'tree/a/2/y']);
  });

  it('a key that is a "directory" of other keys is not an object, and cannot become one (CONFLICT)', async () => {
    await h.store.put('dirs/p/q', Buffer.from('x'));
    await expect(h.store.get('dirs/p')).rejects.toMatchObject({ code: 'OBJECT_NOT_FOUND' });
    await expect(h.store.put('dirs/p', Buffer.from('y'))).rejects.toMatchObject({ code: 'CONFLICT' });
    await expect(h.store.put('dirs/p/q/r', Buffer.from('z'))).rejects.toMatchObject({ code: 'CONFLICT' });
    expect(filesUnder(join(h.dir, 'dirs'))).toEqual(['p/q']);
  });
});
