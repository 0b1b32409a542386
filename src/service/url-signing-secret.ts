/**
 * The HMAC secret of the daemon's signed download URLs (fs repositories; S3 presigns its own).
 *
 * Why in the repository: a secret made per process invalidated every outstanding URL on each
 * restart, and a dashboard that handed one out a minute earlier got 403s after an upgrade. The
 * fs repository is a local directory only the daemon reads, and the object goes through the
 * CodecStore, so it is encrypted at rest when the repository is.
 */
import { randomBytes } from 'node:crypto';
import { isPitrdError } from '../errors.js';
import { createCodecStore, type ObjectStore } from '../storage/index.js';

export const URL_SIGNING_SECRET_KEY = 'api/url-signing-secret';
const SECRET_BYTES = 32;

export async function loadUrlSigningSecret(store: ObjectStore, key?: Buffer): Promise<Buffer> {
  const codec = createCodecStore(store, { compression: 'none', ...(key ? { key } : {}) });
  try {
    const stored = await codec.getBuffer(URL_SIGNING_SECRET_KEY);
    if (stored.length === SECRET_BYTES) return stored;
    // A wrong-sized secret was not written by us: replace it rather than sign with it.
  } catch (err) {
    if (!isPitrdError(err, 'OBJECT_NOT_FOUND')) throw err;
  }
  const secret = randomBytes(SECRET_BYTES);
  await codec.put(URL_SIGNING_SECRET_KEY, secret);
  return secret;
}
