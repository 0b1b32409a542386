/**
 * Idempotency records in the repository (`api/idempotency/{sha256}.json`, src/repository/keys.ts), so a client retrying a
 * creating POST after a daemon restart gets the first answer instead of a second restore, backup
 * or registration. Written through a CodecStore: encrypted at rest when the repository is.
 * The object name is the sha256 of "token id:key": idempotency keys are treated as secrets
 * (they are redacted from logs) and never appear in the bucket.
 */
import { z } from 'zod';
import type { IdempotencyRecord, IdempotencyStore } from '../api/index.js';
import { IDEMPOTENCY_PREFIX, idempotencyKey, metaStoreOf, type MetaStore } from '../repository/index.js';
import type { ObjectStore } from '../storage/index.js';

export { IDEMPOTENCY_PREFIX };
const SWEEP_EVERY_MS = 60 * 60 * 1000;

const RecordSchema = z.object({
  fingerprint: z.string(),
  status: z.number().int(),
  body: z.unknown(),
  createdAtMs: z.number(),
  expiresAtMs: z.number(),
});

export class RepositoryIdempotencyStore implements IdempotencyStore {
  private readonly meta: MetaStore;
  private lastSweepMs = 0;

  constructor(
    private readonly store: ObjectStore,
    key?: Buffer,
    private readonly ttlMs = 24 * 60 * 60 * 1000,
    /** A failed write is reported here, not thrown: the work is done, its answer must still reach the client. */
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {
    this.meta = metaStoreOf(store, key);
  }

  async get(scopeKey: string, nowMs: number): Promise<IdempotencyRecord | null> {
    const buf = await this.meta.readRaw(idempotencyKey(scopeKey));
    if (buf === null) return null;
    const rec = RecordSchema.safeParse(JSON.parse(buf.toString('utf8')));
    // An unreadable record is as good as none: the request runs (it cannot be replayed anyway).
    if (!rec.success || rec.data.expiresAtMs <= nowMs) return null;
    return rec.data as IdempotencyRecord;
  }

  async put(scopeKey: string, record: IdempotencyRecord): Promise<void> {
    try {
      await this.meta.codec.put(idempotencyKey(scopeKey), Buffer.from(JSON.stringify(record)));
    } catch (err) {
      // Without the record a retry runs again (as after a restart with an in-memory store).
      this.onError(err);
      return;
    }
    if (record.createdAtMs - this.lastSweepMs >= SWEEP_EVERY_MS) {
      this.lastSweepMs = record.createdAtMs;
      void this.sweep(record.createdAtMs).catch((err: unknown) => this.onError(err));
    }
  }

  /** Delete records older than the TTL (by the object's time: no need to read them). */
  async sweep(nowMs: number): Promise<number> {
    const old: string[] = [];
    for await (const o of this.store.listAll(IDEMPOTENCY_PREFIX)) if (o.lastModified.getTime() + this.ttlMs < nowMs) old.push(o.key);
    for (let i = 0; i < old.length; i += 1000) await this.store.delete(old.slice(i, i + 1000));
    return old.length;
  }
}
