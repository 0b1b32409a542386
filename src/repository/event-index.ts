import { PitrdError } from '../errors.js';
import type { ObjectStore } from '../storage/types.js';
import { assertSegment, type DatabaseKeys } from './keys.js';
import type { MetaStore } from './meta.js';

/** How many consecutive segments (of one timeline) share an event-index object. */
export const EVENT_CHUNK_SEGMENTS = 256n;

/** The events of one segment as the index stores them (their content belongs to src/wal's extractor). */
export interface StoredSegmentEvents<T = unknown> {
  timeline: number;
  segment: string;
  events: T[];
}

interface ChunkJson {
  v: 1;
  timeline: number;
  /** Segment name → its events (only segments that have any). */
  segments: Record<string, unknown[]>;
}

/** At most this many chunk objects are read at once. */
const READ_PARALLEL = 16;

/**
 * The event index (`event-index/{TLI}/{CHUNK}.json`): derived data, rebuilt from the WAL summaries
 * (each summary carries its segment's events too). One object holds the events of up to
 * EVENT_CHUNK_SEGMENTS segments, so a query over 10,000 segments reads ~40 objects. Written by
 * the summarizer (read, replace the segment's entry, write); a segment without events writes
 * nothing. Compact JSON, read without a schema walk: the query path parses it once.
 */
export class EventIndexStore {
  constructor(
    private readonly keys: DatabaseKeys,
    private readonly store: ObjectStore,
    private readonly meta: MetaStore,
  ) {}

  private async readChunk(key: string): Promise<ChunkJson | null> {
    const buf = await this.meta.readRaw(key);
    if (buf === null) return null;
    let json: unknown;
    try {
      json = JSON.parse(buf.toString('utf8'));
    } catch (err) {
      throw new PitrdError('REPO_INVALID', `event index object ${key} is not JSON: ${(err as Error).message}`, { context: { key } });
    }
    const c = json as Partial<ChunkJson> | null;
    if (!c || c.v !== 1 || typeof c.timeline !== 'number' || typeof c.segments !== 'object' || c.segments === null) {
      throw new PitrdError('REPO_INVALID', `event index object ${key} is not an event chunk (v 1, timeline, segments)`, { context: { key } });
    }
    return c as ChunkJson;
  }

  /** Record a segment's events (replacing what the index held for it). */
  async putSegment(timeline: number, segment: string, segno: bigint, events: readonly unknown[]): Promise<void> {
    assertSegment(timeline, segment);
    const key = this.keys.eventChunk(timeline, segno / EVENT_CHUNK_SEGMENTS);
    const chunk = (await this.readChunk(key)) ?? { v: 1 as const, timeline, segments: {} };
    const had = segment in chunk.segments;
    if (events.length === 0 && !had) return;
    if (had && JSON.stringify(chunk.segments[segment]) === JSON.stringify(events)) return;
    if (events.length === 0) delete chunk.segments[segment];
    else chunk.segments[segment] = [...events];
    await this.meta.codec.put(key, Buffer.from(JSON.stringify(chunk)));
  }

  /** The events of the segments of one chunk (segment name → events); {} when none. */
  async readChunkOf<T = unknown>(timeline: number, chunk: bigint): Promise<Record<string, T[]>> {
    const c = await this.readChunk(this.keys.eventChunk(timeline, chunk));
    return (c?.segments ?? {}) as Record<string, T[]>;
  }

  /** Every indexed segment's events, in LSN order (segment number, then timeline). */
  async readAll<T = unknown>(): Promise<StoredSegmentEvents<T>[]> {
    const keys: string[] = [];
    for await (const o of this.store.listAll(this.keys.eventIndexPrefix)) if (o.key.endsWith('.json')) keys.push(o.key);
    const out: StoredSegmentEvents<T>[] = [];
    for (let i = 0; i < keys.length; i += READ_PARALLEL) {
      const chunks = await Promise.all(keys.slice(i, i + READ_PARALLEL).map((k) => this.readChunk(k)));
      for (const c of chunks) {
        if (!c) continue;
        for (const [segment, events] of Object.entries(c.segments)) out.push({ timeline: c.timeline, segment, events: events as T[] });
      }
    }
    return out.sort((a, b) => (a.segment.slice(8) + a.segment.slice(0, 8) < b.segment.slice(8) + b.segment.slice(0, 8) ? -1 : 1));
  }
}
