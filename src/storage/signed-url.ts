import { createHmac, timingSafeEqual } from 'node:crypto';
import { PitrdError } from '../errors.js';
import { validateKey } from './keys.js';

/**
 * Signed, expiring URLs for the fs driver. The daemon's API serves them at
 * `{publicBaseUrl}/v1/objects/{key}?expires={unix seconds}&sig={hex}`; the signature is
 * HMAC-SHA256(secret, "GET\n{key}\n{expires}"), so neither the key nor the expiry can be changed
 * without the secret.
 */
export const FS_SIGNED_URL_PATH = '/v1/objects/';

function signature(secret: string | Buffer, key: string, expires: number): string {
  return createHmac('sha256', secret).update(`GET\n${key}\n${expires}`).digest('hex');
}

/** Encode each key segment, keep the '/' separators readable. */
function encodeKeyPath(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

export function signFsUrl(opts: {
  publicBaseUrl: string;
  secret: string | Buffer;
  key: string;
  expiresInSeconds: number;
  now?: number;
}): { url: string; expiresAt: Date } {
  validateKey(opts.key);
  if (!Number.isFinite(opts.expiresInSeconds) || opts.expiresInSeconds <= 0) {
    throw new PitrdError('VALIDATION_ERROR', `signed URL lifetime must be a positive number of seconds, got ${opts.expiresInSeconds}`, {
      context: { key: opts.key },
    });
  }
  const expires = Math.floor((opts.now ?? Date.now()) / 1000) + Math.ceil(opts.expiresInSeconds);
  const base = opts.publicBaseUrl.replace(/\/+$/, '');
  const url = `${base}${FS_SIGNED_URL_PATH}${encodeKeyPath(opts.key)}?expires=${expires}&sig=${signature(opts.secret, opts.key, expires)}`;
  return { url, expiresAt: new Date(expires * 1000) };
}

export interface VerifiedFsUrl {
  key: string;
  expiresAt: Date;
}

/**
 * Check a request for a signed fs URL. `requestUrl` is the request target (path + query, as in
 * `req.url`) or a full URL; anything before `/v1/objects/` is ignored, so the API may be
 * mounted under a base path. Returns the key to serve; throws SIGNED_URL_INVALID when the
 * signature is wrong or missing and SIGNED_URL_EXPIRED when it is past its expiry.
 */
export function verifyFsSignedUrl(secret: string | Buffer, requestUrl: string | URL, now: number = Date.now()): VerifiedFsUrl {
  const u = typeof requestUrl === 'string' ? new URL(requestUrl, 'http://localhost') : requestUrl;
  const at = u.pathname.indexOf(FS_SIGNED_URL_PATH);
  const invalid = (why: string): PitrdError =>
    new PitrdError('SIGNED_URL_INVALID', `signed URL rejected: ${why}`, { context: { path: u.pathname } });
  if (at < 0) throw invalid(`path does not contain ${FS_SIGNED_URL_PATH}`);
  let key: string;
  try {
    key = u.pathname
      .slice(at + FS_SIGNED_URL_PATH.length)
      .split('/')
      .map(decodeURIComponent)
      .join('/');
  } catch {
    throw invalid('key is not valid percent-encoding');
  }
  try {
    validateKey(key);
  } catch {
    throw invalid('key is not a valid object key');
  }
  const expiresRaw = u.searchParams.get('expires');
  const sig = u.searchParams.get('sig');
  if (!expiresRaw || !/^\d{1,15}$/.test(expiresRaw) || !sig || !/^[0-9a-f]{64}$/.test(sig)) {
    throw invalid('missing or malformed expires/sig parameters');
  }
  const expires = Number(expiresRaw);
  const expected = Buffer.from(signature(secret, key, expires), 'hex');
  if (!timingSafeEqual(expected, Buffer.from(sig, 'hex'))) throw invalid(`bad signature for key ${key}`);
  // Checked after the signature so an attacker learns nothing from the expiry answer.
  if (expires * 1000 <= now) {
    throw new PitrdError('SIGNED_URL_EXPIRED', `signed URL for key ${key} expired at ${new Date(expires * 1000).toISOString()}`, {
      context: { key, expiresAt: new Date(expires * 1000).toISOString() },
    });
  }
  return { key, expiresAt: new Date(expires * 1000) };
}
