import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { crashPoint } from '../crash/index.js';
import { isPitrdError, PitrdError } from '../errors.js';
import type { CodecStore, ObjectStore } from '../storage/types.js';
import { COMPRESSION_EXT, assertSegment, lsnOrderKey, parseWalKey, tliHex, type Compression, type DatabaseKeys, type WalKey } from './keys.js';
import type { MetaStore } from './meta.js';
import type { SegmentFile, StoredWalSegment, WalArchive, WalPutOutcome } from './types.js';

/** Read errors that mean an uncommitted object was left half-written. */
const TORN_OBJECT_CODES: ReadonlySet<string> = new Set(['TRUNCATED_OBJECT', 'DECRYPT_FAILED', 'COMPRESSION_ERROR', 'OBJECT_NOT_FOUND']);

export type CodecFor = (compression: Compression) => CodecStore;

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function sha256OfFile(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

const COMPRESSIONS = Object.keys(COMPRESSION_EXT) as Compression[];

/** How putSegment and putSegmentFile store the object itself (the rest of a put is shared). */
type StoreObject = (key: string, opts: { ifNoneMatch: boolean }) => Promise<void>;

interface Probe {
  segment?: Extract<WalKey, { kind: 'segment' }>;
  marker?: Extract<WalKey, { kind: 'marker' }>;
}

/**
 * WAL segments and history files of one database.
 *
 * A segment is stored as `wal/{TLI}/{SEGMENT}{ext}` (ext from its compression), then committed by
 * an empty marker `wal/{TLI}/{SEGMENT}.{sha256}.{size}.idx` (see DatabaseKeys.segmentMarker).
 * Choice of a marker over a JSON sidecar or index object: listing a timeline then yields name,
 * size and checksum of every segment with no GET at all, and markers are immutable like the
 * segments, so concurrent writers never rewrite a shared index. A segment without its marker is
 * an interrupted upload: invisible to readers, and completed (after comparing content) by the
 * next put of the same segment.
 */
export class RepoWalArchive implements WalArchive {
  constructor(
    private readonly keys: DatabaseKeys,
    private readonly store: ObjectStore,
    private readonly meta: MetaStore,
    private readonly codecFor: CodecFor,
    /** Compression for new segments. */
    private readonly compression: Compression,
  ) {}

  async putSegment(timeline: number, name: string, data: Buffer): Promise<{ outcome: WalPutOutcome; sha256: string }> {
    assertSegment(timeline, name);
    const sum = sha256(data);
    // The sum computed above goes along, so the codec store does not hash the bytes again.
    return this.putCommitted(timeline, name, sum, data.length, async (key, o) => {
      await this.codecFor(this.compression).put(key, data, { ...o, contentLength: data.length, sha256: sum });
    });
  }

  /**
   * putSegment for a complete segment file nobody writes any more (the receiver's spool), with
   * its sha256 when the caller computed it as the file was written. Same outcomes and checks.
   * Stored plain ('none', no encryption) in the fs repository, the bytes never pass through JS:
   * the driver links or kernel-copies the file. Otherwise the file is read and put as a Buffer.
   */
  async putSegmentFile(timeline: number, name: string, file: SegmentFile): Promise<{ outcome: WalPutOutcome; sha256: string }> {
    assertSegment(timeline, name);
    const size = (await stat(file.path)).size;
    const sum = file.sha256 ?? (await sha256OfFile(file.path));
    const codec = this.codecFor(this.compression);
    const store = codec.store;
    const plain = codec.codec.compression === 'none' && codec.codec.key === undefined;
    return this.putCommitted(timeline, name, sum, size, async (key, o) => {
      if (plain && store.capabilities.linkFiles && store.putFile) {
        await store.putFile(key, file.path, { ...o, contentLength: size });
        return;
      }
      const data = await readFile(file.path);
      if (data.length !== size) {
        throw new PitrdError('WAL_INVALID', `segment file ${file.path} changed size while being archived (${size} then ${data.length} bytes)`, { context: { path: file.path } });
      }
      await codec.put(key, data, { ...o, contentLength: size, sha256: sum });
    });
  }

  /** The put protocol: probe, compare, store the object, then commit it with its marker. */
  private async putCommitted(timeline: number, name: string, sum: string, size: number, storeObject: StoreObject): Promise<{ outcome: WalPutOutcome; sha256: string }> {
    for (let attempt = 0; ; attempt++) {
      const p = await this.probeForPut(timeline, name, sum, size);
      if (p.marker && p.marker.sha256 !== sum) throw this.conflict(timeline, name, p.marker.sha256, sum);
      if (p.marker && p.segment) return { outcome: 'exists', sha256: sum };
      // A marker without its segment (object lost or removed by hand) must not pass for archived:
      // store the segment again below.
      let replaceTorn = false;
      if (p.segment) {
        // Interrupted earlier put: uncommitted (no marker), so no reader has ever seen it.
        const stored = await this.readUncommitted(timeline, name, p.segment.compression);
        if (stored !== null && stored.length === size) {
          // Whole but uncommitted: the same bytes are committed now; different whole bytes are
          // refused (another writer of this segment is something to investigate, not to hide).
          const storedSum = sha256(stored);
          if (storedSum !== sum) throw this.conflict(timeline, name, storedSum, sum);
          await this.putMarker(timeline, name, sum, stored.length);
          return { outcome: 'exists', sha256: sum };
        }
        // Torn: a store that is not atomic (s3rver, some S3-compatible servers, a crash of the
        // fs driver's host mid-rename) left a short or undecodable object. Replacing it loses
        // nothing: it was never committed.
        replaceTorn = true;
      }
      try {
        if (replaceTorn && p.segment!.compression !== this.compression) {
          await this.store.delete([this.keys.segment(timeline, name, p.segment!.compression)]);
        }
        await storeObject(this.keys.segment(timeline, name, this.compression), { ifNoneMatch: !replaceTorn });
      } catch (err) {
        // A concurrent writer got there first: compare against what it stored.
        if (isPitrdError(err, 'OBJECT_EXISTS') && attempt === 0) continue;
        throw err;
      }
      crashPoint('uploader.after-object-put');
      await this.putMarker(timeline, name, sum, size);
      crashPoint('uploader.after-marker');
      return { outcome: 'stored', sha256: sum };
    }
  }

  async getSegment(timeline: number, name: string): Promise<Buffer> {
    const { key, marker } = await this.committed(timeline, name);
    return this.codecFor(marker.compression).getBuffer(key, { sha256: marker.sha256 });
  }

  /** The decoded segment as a stream; a checksum mismatch surfaces as the stream's error. */
  async getSegmentStream(timeline: number, name: string): Promise<Readable> {
    const { key, marker } = await this.committed(timeline, name);
    return this.codecFor(marker.compression).get(key, { sha256: marker.sha256 });
  }

  /**
   * Read a segment found by listSegments() without looking it up again (one GET, no LIST): the
   * restore path prefetching many segments. Verified against the listed sha256.
   */
  async readListedSegment(seg: StoredWalSegment): Promise<Readable> {
    if (seg.key === undefined || seg.compression === undefined) return this.getSegmentStream(seg.timeline, seg.name);
    return this.codecFor(seg.compression).get(seg.key, { sha256: seg.sha256 });
  }

  async hasSegment(timeline: number, name: string): Promise<boolean> {
    assertSegment(timeline, name);
    const p = await this.probe(timeline, name);
    return p.marker !== undefined && p.segment !== undefined;
  }

  async *listSegments(timeline?: number): AsyncIterable<StoredWalSegment> {
    const prefix = timeline === undefined ? this.keys.walPrefix : this.keys.walTimelinePrefix(timeline);
    const segments = await this.collect(prefix);
    segments.sort((a, b) => (lsnOrderKey(a.name) < lsnOrderKey(b.name) ? -1 : lsnOrderKey(a.name) > lsnOrderKey(b.name) ? 1 : 0));
    yield* segments;
  }

  async lastSegment(): Promise<{ timeline: number; name: string } | null> {
    let best: StoredWalSegment | null = null;
    for (const s of await this.collect(this.keys.walPrefix)) {
      if (!best || s.timeline > best.timeline || (s.timeline === best.timeline && s.name > best.name)) best = s;
    }
    return best ? { timeline: best.timeline, name: best.name } : null;
  }

  async putHistory(timeline: number, content: Buffer): Promise<WalPutOutcome> {
    const key = this.keys.history(timeline);
    for (let attempt = 0; ; attempt++) {
      const existing = await this.meta.readRaw(key);
      if (existing) {
        if (existing.equals(content)) return 'exists';
        throw new PitrdError(
          'WAL_SEGMENT_CONFLICT',
          `history file ${tliHex(timeline)}.history of database "${this.keys.database}" is already archived with different content (stored sha256 ${sha256(existing)}, new sha256 ${sha256(content)}); the stored file is kept`,
          { context: { database: this.keys.database, timeline, file: `${tliHex(timeline)}.history`, stored_sha256: sha256(existing), new_sha256: sha256(content) } },
        );
      }
      try {
        await this.meta.codec.put(key, content, { ifNoneMatch: true });
        return 'stored';
      } catch (err) {
        if (isPitrdError(err, 'OBJECT_EXISTS') && attempt === 0) continue;
        throw err;
      }
    }
  }

  async getHistory(timeline: number): Promise<Buffer | null> {
    return this.meta.readRaw(this.keys.history(timeline));
  }

  /** Timelines that have a history file, ascending. */
  async historyTimelines(): Promise<number[]> {
    const out: number[] = [];
    for await (const o of this.store.listAll(this.keys.walPrefix)) {
      const m = /^([0-9A-F]{8})\.history$/.exec(o.key.slice(this.keys.walPrefix.length));
      if (m) out.push(Number.parseInt(m[1]!, 16));
    }
    return out.sort((a, b) => a - b);
  }

  /** Remove segments (retention): the marker goes first, so a half-done removal is never read as a segment. */
  async removeSegments(segments: readonly { timeline: number; name: string }[]): Promise<void> {
    for (const s of segments) {
      assertSegment(s.timeline, s.name);
      const p = await this.probe(s.timeline, s.name);
      if (p.marker) await this.store.delete([this.keys.segmentMarker(s.timeline, s.name, p.marker.sha256, p.marker.size)]);
      if (p.segment) await this.store.delete([this.keys.segment(s.timeline, s.name, p.segment.compression)]);
    }
  }

  /** The decoded bytes of an uncommitted segment object, or null when it is torn (unreadable). */
  private async readUncommitted(timeline: number, name: string, compression: Compression): Promise<Buffer | null> {
    try {
      return await this.codecFor(compression).getBuffer(this.keys.segment(timeline, name, compression));
    } catch (err) {
      // Damage of the object itself means torn; storage being down is not (let the caller retry).
      if (isPitrdError(err) && TORN_OBJECT_CODES.has(err.code)) return null;
      throw err;
    }
  }

  private conflict(timeline: number, name: string, stored: string, incoming: string): PitrdError {
    return new PitrdError(
      'WAL_SEGMENT_CONFLICT',
      `WAL segment ${name} (timeline ${timeline}) of database "${this.keys.database}" is already archived with different content (stored sha256 ${stored}, new sha256 ${incoming}); the stored segment is kept`,
      { context: { database: this.keys.database, timeline, segment: name, stored_sha256: stored, new_sha256: incoming } },
    );
  }

  private async committed(timeline: number, name: string): Promise<{ key: string; marker: { sha256: string; compression: Compression } }> {
    assertSegment(timeline, name);
    const p = await this.probe(timeline, name);
    if (!p.marker || !p.segment) {
      throw new PitrdError('OBJECT_NOT_FOUND', `WAL segment ${name} (timeline ${timeline}) of database "${this.keys.database}" is not in the repository`, {
        context: { database: this.keys.database, timeline, segment: name },
      });
    }
    return { key: this.keys.segment(timeline, name, p.segment.compression), marker: { sha256: p.marker.sha256, compression: p.segment.compression } };
  }

  private async putMarker(timeline: number, name: string, sum: string, size: number): Promise<void> {
    try {
      await this.store.put(this.keys.segmentMarker(timeline, name, sum, size), Buffer.alloc(0), { ifNoneMatch: true, contentLength: 0 });
    } catch (err) {
      // The same key means the same checksum and size: someone committed the same segment.
      if (!isPitrdError(err, 'OBJECT_EXISTS')) throw err;
    }
  }

  /**
   * probe() for a put that knows its checksum and size. Where a listing is not indexed (the fs
   * driver), a listing of the name as a prefix reads the whole timeline directory (O(segments
   * archived) for every put); there,
   * the keys that matter are looked up directly instead: the segment under each compression and
   * this content's marker. When any segment object exists (an interrupted or repeated upload, a
   * possible conflict) the full listing runs, so those cases are decided exactly as before. Not
   * seen this way: a marker of other content whose segment object is gone (removed by hand; pitrd
   * writes the object before its marker and removes the marker first).
   */
  private async probeForPut(timeline: number, name: string, sum: string, size: number): Promise<Probe> {
    if (this.store.capabilities.indexedListing) return this.probe(timeline, name);
    const [marker, ...segments] = await Promise.all([
      this.store.head(this.keys.segmentMarker(timeline, name, sum, size)),
      ...COMPRESSIONS.map((c) => this.store.head(this.keys.segment(timeline, name, c))),
    ]);
    if (segments.some((s) => s !== null)) return this.probe(timeline, name);
    return marker ? { marker: { kind: 'marker', timeline, name, sha256: sum, size } } : {};
  }

  /** What exists for one segment, from one listing of its name as a prefix. */
  private async probe(timeline: number, name: string): Promise<Probe> {
    const p: Probe = {};
    const base = this.keys.walTimelinePrefix(timeline);
    for await (const o of this.store.listAll(base + name)) {
      const k = parseWalKey(`${tliHex(timeline)}/${o.key.slice(base.length)}`);
      if (k?.kind === 'segment' && k.name === name) p.segment = k;
      else if (k?.kind === 'marker' && k.name === name) p.marker = k;
    }
    return p;
  }

  /** Committed segments under a prefix of wal/: a marker and its segment object both present. */
  private async collect(prefix: string): Promise<StoredWalSegment[]> {
    const markers = new Map<string, StoredWalSegment>();
    const present = new Map<string, { key: string; compression: Compression }>();
    for await (const o of this.store.listAll(prefix)) {
      const k = parseWalKey(o.key.slice(this.keys.walPrefix.length));
      if (!k) continue;
      if (k.kind === 'segment') present.set(k.name, { key: o.key, compression: k.compression });
      else markers.set(k.name, { timeline: k.timeline, name: k.name, size: k.size, sha256: k.sha256, archived_at: o.lastModified.toISOString() });
    }
    const out: StoredWalSegment[] = [];
    for (const m of markers.values()) {
      const obj = present.get(m.name);
      if (obj) out.push({ ...m, ...obj });
    }
    return out;
  }
}
