import type { ObjectStore } from '../storage/types.js';
import { assertSegment, lsnOrderKey, type DatabaseKeys } from './keys.js';
import type { MetaStore } from './meta.js';
import { JsonValueSchema } from './schemas.js';

export interface StoredWalSummary<T = unknown> {
  timeline: number;
  segment: string;
  record: T;
}

/**
 * Per-segment summaries (`wal-summary/{TLI}/{SEGMENT}.json`). Their content belongs to the WAL
 * parser; here a summary is any JSON value. One object per segment: simple, idempotent to
 * rewrite (a summary is derived data, recomputable from its segment), listable in LSN order.
 */
export class WalSummaryStore {
  constructor(
    private readonly keys: DatabaseKeys,
    private readonly store: ObjectStore,
    private readonly meta: MetaStore,
  ) {}

  async put(timeline: number, segment: string, record: unknown): Promise<void> {
    assertSegment(timeline, segment);
    await this.meta.write(this.keys.summary(timeline, segment), JsonValueSchema, record);
  }

  async get<T = unknown>(timeline: number, segment: string): Promise<T | null> {
    assertSegment(timeline, segment);
    return (await this.meta.read(this.keys.summary(timeline, segment), JsonValueSchema)) as T | null;
  }

  /** Which segments of one timeline (or all) have a summary, in LSN order: one LIST, no GET. */
  async segments(timeline?: number): Promise<{ timeline: number; segment: string }[]> {
    const prefix = timeline === undefined ? this.keys.summaryPrefix : this.keys.summaryTimelinePrefix(timeline);
    const found: { timeline: number; segment: string }[] = [];
    for await (const o of this.store.listAll(prefix)) {
      const m = /^([0-9A-F]{8})\/([0-9A-F]{24})\.json$/.exec(o.key.slice(this.keys.summaryPrefix.length));
      if (m && m[2]!.startsWith(m[1]!)) found.push({ timeline: Number.parseInt(m[1]!, 16), segment: m[2]! });
    }
    return found.sort((a, b) => (lsnOrderKey(a.segment) < lsnOrderKey(b.segment) ? -1 : 1));
  }

  /** Summaries of one timeline (or all) in LSN order: segment number, then timeline. */
  async list<T = unknown>(timeline?: number): Promise<StoredWalSummary<T>[]> {
    const found = await this.segments(timeline);
    const out: StoredWalSummary<T>[] = [];
    for (const f of found) {
      const record = await this.get<T>(f.timeline, f.segment);
      if (record !== null) out.push({ ...f, record });
    }
    return out;
  }

  async remove(entries: readonly { timeline: number; segment: string }[]): Promise<void> {
    if (entries.length) await this.store.delete(entries.map((e) => this.keys.summary(e.timeline, e.segment)));
  }
}
