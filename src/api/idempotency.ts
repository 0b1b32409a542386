import { createHash } from 'node:crypto';
import { PitrdError } from '../errors.js';

/** A finished response, kept so a retry gets exactly the same status and body. */
export interface IdempotencyRecord {
  fingerprint: string;
  status: number;
  body: unknown;
  createdAtMs: number;
  expiresAtMs: number;
}

/**
 * Where finished responses are kept. The in-memory one below is what the API uses until the
 * daemon gives it a persistent one (so retries survive a daemon restart); any store must drop
 * records after `expiresAtMs`.
 */
export interface IdempotencyStore {
  get(key: string, nowMs: number): Promise<IdempotencyRecord | null>;
  put(key: string, record: IdempotencyRecord): Promise<void>;
}

export class MemoryIdempotencyStore implements IdempotencyStore {
  private readonly records = new Map<string, IdempotencyRecord>();

  async get(key: string, nowMs: number): Promise<IdempotencyRecord | null> {
    const r = this.records.get(key);
    if (!r) return null;
    if (r.expiresAtMs <= nowMs) {
      this.records.delete(key);
      return null;
    }
    return r;
  }

  async put(key: string, record: IdempotencyRecord): Promise<void> {
    // Records share one TTL, so insertion order is expiry order: sweep expired ones from the front.
    for (const [k, r] of this.records) {
      if (r.expiresAtMs > record.createdAtMs) break;
      this.records.delete(k);
    }
    this.records.delete(key);
    this.records.set(key, record);
  }

  get size(): number {
    return this.records.size;
  }
}

export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
export const IDEMPOTENCY_KEY_RE = /^[\x21-\x7e]{1,255}$/;

/** JSON with object keys sorted, so `{a,b}` and `{b,a}` are the same request. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export function fingerprint(method: string, path: string, body: unknown): string {
  return createHash('sha256').update(`${method} ${path}\n${canonicalJson(body)}`).digest('hex');
}

export interface IdempotentOutcome {
  status: number;
  body: unknown;
  /** True when this response was replayed from an earlier request. */
  replayed: boolean;
}

/**
 * Runs a creating request at most once per (token, key). Concurrent duplicates in this process
 * wait for the first and get its response. A response is stored only when it is final (< 500):
 * after a server error the client may retry the same key and the work runs again.
 */
export class IdempotencyCoordinator {
  private readonly inflight = new Map<string, Promise<IdempotencyRecord>>();

  constructor(
    private readonly store: IdempotencyStore = new MemoryIdempotencyStore(),
    private readonly clock: () => number = Date.now,
    private readonly ttlMs = IDEMPOTENCY_TTL_MS,
  ) {}

  async run(scopeKey: string, fp: string, exec: () => Promise<{ status: number; body: unknown }>): Promise<IdempotentOutcome> {
    for (;;) {
      const pending = this.inflight.get(scopeKey);
      if (pending) {
        const rec = await pending.catch(() => null);
        if (rec === null) continue; // the first attempt failed and stored nothing: try ourselves
        return this.replay(scopeKey, rec, fp);
      }
      let executed = false;
      const p = (async (): Promise<IdempotencyRecord> => {
        const now = this.clock();
        const existing = await this.store.get(scopeKey, now);
        if (existing) return existing;
        executed = true;
        const res = await exec();
        const rec: IdempotencyRecord = { fingerprint: fp, status: res.status, body: res.body, createdAtMs: now, expiresAtMs: now + this.ttlMs };
        if (res.status < 500) await this.store.put(scopeKey, rec);
        return rec;
      })();
      this.inflight.set(scopeKey, p);
      try {
        const rec = await p;
        if (executed) return { status: rec.status, body: rec.body, replayed: false };
        return this.replay(scopeKey, rec, fp);
      } finally {
        this.inflight.delete(scopeKey);
      }
    }
  }

  private replay(scopeKey: string, rec: IdempotencyRecord, fp: string): IdempotentOutcome {
    if (rec.fingerprint !== fp) {
      const key = scopeKey.slice(scopeKey.indexOf(':') + 1);
      throw new PitrdError('CONFLICT', `Idempotency-Key "${key}" was already used with a different request; use a new key for a new request`, {
        context: { idempotency_key: key },
      });
    }
    return { status: rec.status, body: rec.body, replayed: true };
  }
}
