/**
 * The HMAC secret of the daemon's signed download URLs (fs repositories; S3 presigns its own).
 *
 * Why in the repository: a secret made per process invalidated every outstanding URL on each
 * restart, and a dashboard that handed one out a minute earlier got 403s after an upgrade. The
 * fs repository is a local directory only the daemon reads, and the object goes through the
 * CodecStore, so it is encrypted at rest when the repository is.
 */
import { randomBytes } from 'node:crypto';
import { metaStoreOf, URL_SIGNING_SECRET_KEY } from '../repository/index.js';
import type { ObjectStore } from '../storage/index.js';

export { URL_SIGNING_SECRET_KEY };
const SECRET_BYTES = 32;

export async function loadUrlSigningSecret(store: ObjectStore, key?: Buffer): Promise<Buffer> {
  const meta = metaStoreOf(store, key);
  const stored = await meta.readRaw(URL_SIGNING_SECRET_KEY);
  // A wrong-sized secret was not written by us: replace it rather than sign with it.
  if (stored !== null && stored.length === SECRET_BYTES) return stored;
  const secret = randomBytes(SECRET_BYTES);
  await meta.codec.put(URL_SIGNING_SECRET_KEY, secret);
  return secret;
}
