import type { z } from 'zod';
import { isPitrdError, PitrdError } from '../errors.js';
import { createCodecStore } from '../storage/index.js';
import type { CodecStore, ObjectStore, PutOptions } from '../storage/types.js';
import { formatIssuePath } from '../zod-issues.js';

/**
 * JSON metadata objects (database.json, backup.json, restores, summaries, history files).
 *
 * Choice: every metadata object except repo.json goes through a CodecStore with the repository
 * key and no compression. Encrypted repositories then leak nothing (system identifiers, labels,
 * host names, LSNs) to whoever can read the bucket, and reading metadata never depends on the
 * configured compression, which may change over a repository's life. repo.json alone is plain
 * JSON: it is what tells a reader whether a key is needed at all.
 */
export class MetaStore {
  constructor(readonly codec: CodecStore) {}

  /**
   * null when absent; REPO_INVALID naming the key when present but not valid.
   *
   * Why the retries: a metadata object may be rewritten while we read it (the receiver and a
   * backup both record database.json on first contact). S3 replaces objects atomically, but
   * S3-compatible servers are not all S3 (s3rver streams a PUT into the very file a GET reads), so
   * a read can see a torn object. A torn read looks truncated or unparsable; reading again after a
   * short pause sees the finished write. A genuinely damaged object fails the same way every time
   * and is reported after the last attempt, so nothing corrupt is ever returned.
   */
  async read<T>(key: string, schema: z.ZodType<T>): Promise<T | null> {
    for (let attempt = 1; ; attempt++) {
      try {
        const buf = await this.readRaw(key);
        if (buf === null) return null;
        return parseJson(key, buf, schema);
      } catch (err) {
        if (attempt >= TORN_READ_ATTEMPTS || !looksTorn(err)) throw err;
        await new Promise((r) => setTimeout(r, TORN_READ_PAUSE_MS * attempt));
      }
    }
  }

  async readRaw(key: string): Promise<Buffer | null> {
    try {
      return await this.codec.getBuffer(key);
    } catch (err) {
      if (isPitrdError(err, 'OBJECT_NOT_FOUND')) return null;
      throw err;
    }
  }

  async write<T>(key: string, schema: z.ZodType<T>, value: T, opts?: PutOptions): Promise<void> {
    const r = schema.safeParse(value);
    if (!r.success) {
      throw new PitrdError('VALIDATION_ERROR', `refusing to write invalid ${key}: ${describeIssues(r.error.issues)}`, { context: { key } });
    }
    await this.codec.put(key, Buffer.from(JSON.stringify(value, null, 2) + '\n'), opts);
  }
}

/**
 * The metadata store of a repository's object store and key, for the daemon's objects beside the
 * databases (registry, idempotency records, URL-signing secret): the same codec the Repository
 * uses for its own metadata (no compression; encrypted when the repository is).
 */
export function metaStoreOf(store: ObjectStore, key?: Buffer): MetaStore {
  return new MetaStore(createCodecStore(store, { compression: 'none', ...(key ? { key } : {}) }));
}

/** How often a metadata read that looks torn is tried in all, and the pause that grows per try. */
export const TORN_READ_ATTEMPTS = 4;
const TORN_READ_PAUSE_MS = 100;

function looksTorn(err: unknown): boolean {
  return isPitrdError(err, 'TRUNCATED_OBJECT') || isPitrdError(err, 'DECRYPT_FAILED') || isPitrdError(err, 'REPO_INVALID');
}

export function parseJson<T>(key: string, buf: Buffer, schema: z.ZodType<T>): T {
  let json: unknown;
  try {
    json = JSON.parse(buf.toString('utf8'));
  } catch (err) {
    throw new PitrdError('REPO_INVALID', `${key}: not valid JSON (${err instanceof Error ? err.message : String(err)})`, { context: { key }, cause: err });
  }
  const r = schema.safeParse(json);
  if (!r.success) throw new PitrdError('REPO_INVALID', `${key}: ${describeIssues(r.error.issues)}`, { context: { key } });
  return r.data;
}

export function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues.map((i) => `${formatIssuePath(i.path)}: ${i.message}`).join('; ');
}
