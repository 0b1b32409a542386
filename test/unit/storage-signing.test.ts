import { describe, expect, it } from 'vitest';
import { PitrdError } from '../../src/errors.js';
import { choosePartSize, createObjectStore, FsObjectStore, S3ObjectStore, signFsUrl, validateKey, validatePrefix, verifyFsSignedUrl } from '../../src/storage/index.js';

const SECRET = 'unit-test-signing-secret';
const BASE = 'http://backup-host:8432';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PitrdError);
    return (err as PitrdError).code;
  }
  return 'no error';
}

describe('fs signed URLs', () => {
  const now = Date.UTC(2026, 0, 1, 12, 0, 0);
  const { url, expiresAt } = signFsUrl({ publicBaseUrl: BASE + '/', secret: SECRET, key: 'databases/main/wal/0000000100000000000000A1', expiresInSeconds: 600, now });

  it('has the documented shape and accepts a valid, unexpired URL', () => {
    expect(url).toMatch(/^http:\/\/backup-host:8432\/v1\/objects\/databases\/main\/wal\/0000000100000000000000A1\?expires=\d+&sig=[0-9a-f]{64}$/);
    expect(expiresAt.getTime()).toBe(now + 600_000);
    const v = verifyFsSignedUrl(SECRET, url, now + 599_000);
    expect(v.key).toBe('databases/main/wal/0000000100000000000000A1');
    // Works on a bare request target too, as a server sees it in req.url.
    const target = new URL(url).pathname + new URL(url).search;
    expect(verifyFsSignedUrl(SECRET, target, now).key).toBe(v.key);
  });

  it('rejects an expired URL with SIGNED_URL_EXPIRED', () => {
    expect(codeOf(() => verifyFsSignedUrl(SECRET, url, now + 600_000))).toBe('SIGNED_URL_EXPIRED');
  });

  it('rejects tampering with key, expiry or signature, and a different secret', () => {
    const u = new URL(url);
    const otherKey = url.replace('0000000100000000000000A1', '0000000100000000000000A2');
    const later = new URL(url);
    later.searchParams.set('expires', String(Number(u.searchParams.get('expires')) + 3600));
    const sig = u.searchParams.get('sig')!;
    const flipped = new URL(url);
    flipped.searchParams.set('sig', (sig[0] === 'a' ? 'b' : 'a') + sig.slice(1));
    const noSig = new URL(url);
    noSig.searchParams.delete('sig');
    for (const bad of [otherKey, later.toString(), flipped.toString(), noSig.toString(), BASE + '/v1/objects/../etc/passwd?expires=1&sig=' + sig]) {
      expect(codeOf(() => verifyFsSignedUrl(SECRET, bad, now))).toBe('SIGNED_URL_INVALID');
    }
    expect(codeOf(() => verifyFsSignedUrl('another-secret', url, now))).toBe('SIGNED_URL_INVALID');
  });

  it('round-trips keys that need percent-encoding', () => {
    const s = signFsUrl({ publicBaseUrl: BASE, secret: SECRET, key: 'odd/a b+c%d?e', expiresInSeconds: 5, now });
    expect(verifyFsSignedUrl(SECRET, s.url, now).key).toBe('odd/a b+c%d?e');
  });
});

describe('object keys', () => {
  it('accepts repository keys and rejects unsafe ones naming the key', () => {
    expect(validateKey('databases/db1/wal/00000001.history')).toBe('databases/db1/wal/00000001.history');
    for (const bad of ['', '/x', 'a/../b', '..', 'a//b', 'a/', './a', 'a\\b', 'x.pitrd-tmp-1']) {
      let err: unknown;
      try {
        validateKey(bad);
      } catch (e) {
        err = e;
      }
      expect((err as PitrdError).code).toBe('VALIDATION_ERROR');
      expect((err as PitrdError).message).toContain(JSON.stringify(bad));
    }
    expect(validatePrefix('')).toBe('');
    expect(validatePrefix('databases/')).toBe('databases/');
    expect(validatePrefix('databases/db1/wal/000000010')).toBe('databases/db1/wal/000000010');
    expect(codeOf(() => validatePrefix('../'))).toBe('VALIDATION_ERROR');
  });
});

describe('multipart part size', () => {
  const MiB = 1024 * 1024;
  it('fits 1 TiB (the default bound for unknown lengths) in 10,000 parts, never below 5 MiB', () => {
    const TiB = 1024 * 1024 * MiB;
    const unknown = choosePartSize(undefined);
    expect(Math.ceil(TiB / unknown)).toBeLessThanOrEqual(10_000);
    expect(unknown % MiB).toBe(0);
    expect(unknown).toBeLessThan(110 * MiB);
    expect(choosePartSize(64 * MiB)).toBe(5 * MiB);
    expect(choosePartSize(0)).toBe(5 * MiB);
    const big = 200 * 1024 * MiB;
    expect(Math.ceil(big / choosePartSize(big))).toBeLessThanOrEqual(10_000);
  });
});

describe('createObjectStore', () => {
  it('builds both drivers from plain config and refuses unknown ones', () => {
    const fs = createObjectStore({ type: 'fs', path: '/tmp/pitrd-never-created' });
    expect(fs).toBeInstanceOf(FsObjectStore);
    const s3 = createObjectStore({ type: 's3', region: 'eu-west-1', bucket: 'b', prefix: '/team/x/', endpoint: 'http://127.0.0.1:1' });
    expect(s3).toBeInstanceOf(S3ObjectStore);
    expect(s3.location).toContain('s3://b/team/x/');
    expect(s3.location).not.toMatch(/secret/i);
    void s3.close();
    expect(codeOf(() => createObjectStore({ type: 'ftp' } as never))).toBe('CONFIG_INVALID');
    expect(codeOf(() => createObjectStore({ type: 's3', region: 'r', bucket: '' }))).toBe('CONFIG_INVALID');
  });

  it('each driver declares what it can do, and offers putFile exactly when it declares linkFiles', () => {
    const fs = createObjectStore({ type: 'fs', path: '/tmp/pitrd-never-created' });
    const s3 = createObjectStore({ type: 's3', region: 'eu-west-1', bucket: 'b', endpoint: 'http://127.0.0.1:1' });
    expect(fs.capabilities).toEqual({ linkFiles: true, rangedReads: true, presign: false, indexedListing: false });
    expect(s3.capabilities).toEqual({ linkFiles: false, rangedReads: true, presign: true, indexedListing: true });
    for (const s of [fs, s3]) expect(typeof s.putFile === 'function').toBe(s.capabilities.linkFiles);
    void s3.close();
  });

  it('fs signedUrl without a secret is CONFIG_INVALID', async () => {
    const fs = createObjectStore({ type: 'fs', path: '/tmp/pitrd-never-created' });
    await expect(fs.signedUrl('a', 10)).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });
});
