import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPitrdError } from '../../src/errors.js';
import { repoKeyFingerprint, openRepository, REPO_JSON_KEY } from '../../src/repository/index.js';
import { fsDriver, s3Driver, snapshot, type DriverFixture } from './repository-drivers.js';

const drivers = [
  ['fs', fsDriver],
  ['s3', s3Driver],
] as const;

async function codeOf(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (err) {
    if (isPitrdError(err)) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('expected the promise to reject');
}

for (const [name, make] of drivers) {
  describe(`repo.json on ${name}`, () => {
    let d: DriverFixture;
    beforeAll(async () => {
      d = await make();
    });
    afterAll(async () => {
      await d?.stop();
    });

    it('is created on first open and reused after', async () => {
      const store = await d.fresh();
      const first = await openRepository(store, { compression: 'gzip' });
      expect(first.created).toBe(true);
      expect(first.repoJson).toMatchObject({ format: 2, compression: 'gzip', cipher: 'none', key_fingerprint: null });
      expect(await snapshot(store)).toHaveLength(1);
      const second = await openRepository(store, { compression: 'gzip' });
      expect(second.created).toBe(false);
      expect(second.repoJson).toEqual(first.repoJson);
    });

    it('records the cipher and a key fingerprint, never the key', async () => {
      const store = await d.fresh();
      const key = randomBytes(32);
      const repo = await openRepository(store, { key, compression: { algorithm: 'gzip', level: 6 } });
      expect(repo.repoJson.cipher).toBe('aes-256-gcm');
      expect(repo.repoJson.key_fingerprint).toBe(repoKeyFingerprint(key));
      const raw = (await store.getBuffer(REPO_JSON_KEY)).toString('utf8');
      for (const form of [key.toString('hex'), key.toString('base64'), key.toString('hex').toUpperCase()]) expect(raw).not.toContain(form);
      expect(JSON.parse(raw)).toMatchObject({ format: 2, cipher: 'aes-256-gcm', key_fingerprint: repoKeyFingerprint(key) });
      expect((await openRepository(store, { key, compression: 'gzip' })).created).toBe(false);
    });

    it('a different key is REPO_KEY_MISMATCH and writes nothing', async () => {
      const store = await d.fresh();
      await openRepository(store, { key: randomBytes(32), compression: 'gzip' });
      const before = await snapshot(store);
      const rawBefore = await store.getBuffer(REPO_JSON_KEY);
      const e = await codeOf(openRepository(store, { key: randomBytes(32), compression: 'gzip' }));
      expect(e.code).toBe('REPO_KEY_MISMATCH');
      expect(e.message).toContain('different key');
      expect(await snapshot(store)).toEqual(before);
      expect((await store.getBuffer(REPO_JSON_KEY)).equals(rawBefore)).toBe(true);
    });

    it('no key for an encrypted repository is REPO_KEY_REQUIRED', async () => {
      const store = await d.fresh();
      await openRepository(store, { key: randomBytes(32), compression: 'none' });
      const before = await snapshot(store);
      const e = await codeOf(openRepository(store, { compression: 'none' }));
      expect(e.code).toBe('REPO_KEY_REQUIRED');
      expect(e.message).toMatch(/is encrypted .*PITRD_ENCRYPTION_KEY/);
      expect(await snapshot(store)).toEqual(before);
    });

    it('a key for an unencrypted repository is REPO_KEY_MISMATCH', async () => {
      const store = await d.fresh();
      await openRepository(store, { compression: 'none' });
      const e = await codeOf(openRepository(store, { key: randomBytes(32), compression: 'none' }));
      expect(e.code).toBe('REPO_KEY_MISMATCH');
      expect(e.message).toContain('is not encrypted');
    });

    it('an unknown format version is REPO_FORMAT_UNSUPPORTED and writes nothing', async () => {
      const store = await d.fresh();
      await store.put(REPO_JSON_KEY, Buffer.from(JSON.stringify({ format: 99, something: 'new' })));
      const before = await snapshot(store);
      const e = await codeOf(openRepository(store, { compression: 'gzip' }));
      expect(e.code).toBe('REPO_FORMAT_UNSUPPORTED');
      expect(e.message).toContain('format 99');
      expect(await snapshot(store)).toEqual(before);
    });

    // Only where create-if-absent is atomic: s3rver ignores If-None-Match (real S3 honours it).
    if (name === 'fs')
      it('two first opens racing: exactly one creates, the other checks against it', async () => {
        const store = await d.fresh();
        const [k1, k2] = [randomBytes(32), randomBytes(32)];
        const results = await Promise.allSettled([openRepository(store, { key: k1, compression: 'gzip' }), openRepository(store, { key: k2, compression: 'gzip' })]);
        const ok = results.filter((r) => r.status === 'fulfilled');
        const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
        expect(ok).toHaveLength(1);
        expect(failed).toHaveLength(1);
        expect(isPitrdError(failed[0]!.reason, 'REPO_KEY_MISMATCH')).toBe(true);
        expect((ok[0] as PromiseFulfilledResult<{ created: boolean }>).value.created).toBe(true);
      });

    it('a corrupt repo.json is REPO_INVALID naming the key', async () => {
      const store = await d.fresh();
      await store.put(REPO_JSON_KEY, Buffer.from('{"format": 2, "cipher": "rot13"'));
      const e = await codeOf(openRepository(store, { compression: 'gzip' }));
      expect(e.code).toBe('REPO_INVALID');
      expect(e.message).toMatch(/^repo\.json: not valid JSON/);
      await store.put(REPO_JSON_KEY, Buffer.from(JSON.stringify({ format: 2, cipher: 'rot13' })));
      const e2 = await codeOf(openRepository(store, { compression: 'gzip' }));
      expect(e2.code).toBe('REPO_INVALID');
      expect(e2.message).toMatch(/^repo\.json: .*cipher/);
    });
  });
}
