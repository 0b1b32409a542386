/**
 * The events people restore because of, extracted from a segment's records (pure): dropped and
 * truncated relations, dropped databases, large deletes and updates, schema (catalog) changes,
 * restore points. A transaction's writes are counted per xid as their records pass and become an
 * event only at its commit record (an abort discards them), so the counts of a transaction that
 * spans segments are carried from one segment to the next in an `EventState`, stored with the
 * segment's summary like the reader's continuation.
 *
 * Record layouts: xact.h (commit: xl_xact_relfilenodes/relfilelocators), heapam_xlog.h (heap
 * delete/update/insert, heap2 multi-insert: block 0 names the relation), storage_xlog.h
 * (xl_smgr_truncate), dbcommands_xlog.h (xl_dbase_drop_rec), standbydefs.h (xl_running_xacts).
 */
import type { Lsn } from '../types.js';
import { decodeRecord, recordLayout, type RelFile, type WalEvent } from './decode.js';
import * as F from './format.js';
import type { WalRecord } from './reader.js';

export type IndexEventKind = 'drop' | 'truncate' | 'rewrite' | 'drop_database' | 'delete' | 'update' | 'schema' | 'restore_point';
export const INDEX_EVENT_KINDS: readonly IndexEventKind[] = ['drop', 'truncate', 'rewrite', 'drop_database', 'delete', 'update', 'schema', 'restore_point'];

/**
 * A large delete or update is indexed from this many rows of one relation in one transaction on;
 * the API and CLI show those at or above their own (configurable) threshold.
 */
export const MIN_INDEXED_ROWS = 100;

/** Relation files as the index names them: `{database oid}/{relation file number}` (0 = shared catalogs). */
export const relKey = (r: RelFile): string => `${r.db}/${r.rel}`;

/** One indexed event. LSN is the commit record's (or the restore point's). */
export interface IndexEvent {
  kind: IndexEventKind;
  lsn: Lsn;
  time: string;
  /** Top-level transaction id; null for a restore point. */
  xid: number | null;
  /** Database oid the event happened in (drop_database: the dropped one); null when unknown. */
  db: number | null;
  /** Relation files (relKey) the event touched: dropped, truncated, deleted from, catalogs written. */
  rels: string[];
  /** delete / update: rows of the relation; schema: catalog rows written. */
  rows: number | null;
  /** restore_point: its name. */
  name: string | null;
}

/** What one open transaction has done so far (JSON-shaped: stored in the summary). */
export interface PendingXact {
  /** Heap deletes / updates per relation file. */
  del?: Record<string, number>;
  upd?: Record<string, number>;
  /** Catalog rows written per catalog relation file (statistics and large objects left out). */
  cat?: Record<string, number>;
  /** pg_class rows deleted: the transaction drops relations (DROP), rather than giving them new files (TRUNCATE, rewrite). */
  classDel?: number;
  /** pg_class rows updated: TRUNCATE and rewrites give relations new files; VACUUM FULL and CLUSTER swap two rows' files, then drop the transient one. */
  classUpd?: number;
  /** Relation files the transaction filled with rows (inserts, multi-page images): a rewrite, not a truncate. */
  filled?: string[];
  /** Relation files truncated to 0 blocks within the transaction (XLOG_SMGR_TRUNCATE with an xid). */
  truncated?: string[];
  /** Databases dropped (XLOG_DBASE_DROP). */
  droppedDbs?: number[];
}

/** Open transactions' pending writes by xid (decimal string). */
export type EventState = Record<string, PendingXact>;

/** Catalogs whose writes are not schema changes: statistics (ANALYZE) and large objects. */
const NOT_SCHEMA = new Set([2619 /* pg_statistic */, 3429 /* pg_statistic_ext_data */, 2613 /* pg_largeobject */, 2995 /* pg_largeobject_metadata */]);

const bump = (m: Record<string, number> | undefined, k: string, n = 1): Record<string, number> => {
  const o = m ?? {};
  o[k] = (o[k] ?? 0) + n;
  return o;
};
const addTo = (list: string[] | undefined, k: string): string[] => (list?.includes(k) ? list : [...(list ?? []), k]);

/** TransactionIdPrecedes for normal xids: modulo-2^32 comparison. */
const xidPrecedes = (a: number, b: number): boolean => ((a - b) | 0) < 0;

/**
 * Walks records in LSN order, holding open transactions' writes and emitting events at commits.
 * Start it with the state the previous segment left (or {} after a gap: a transaction that began
 * before then is counted from here on).
 */
export class EventExtractor {
  readonly events: IndexEvent[] = [];
  private readonly state: Map<number, PendingXact>;

  constructor(initial: EventState | null | undefined) {
    this.state = new Map(Object.entries(initial ?? {}).map(([k, v]) => [Number(k), structuredClone(v)]));
  }

  /** The state to store with this segment's summary (open transactions only). */
  snapshot(): EventState {
    const out: EventState = {};
    for (const [xid, p] of this.state) out[String(xid)] = p;
    return out;
  }

  private pending(xid: number): PendingXact {
    let p = this.state.get(xid);
    if (!p) {
      p = {};
      this.state.set(xid, p);
    }
    return p;
  }

  /** One record and what decodeRecord made of it. */
  observe(rec: WalRecord, decoded: WalEvent): void {
    switch (decoded.kind) {
      case 'commit':
        this.commit(decoded);
        return;
      case 'abort':
        for (const x of [decoded.xid, rec.xid, ...decoded.subxacts]) this.state.delete(x);
        return;
      case 'restore_point':
        this.events.push({ kind: 'restore_point', lsn: decoded.lsn, time: decoded.time, xid: null, db: null, rels: [], rows: null, name: decoded.name });
        return;
      case 'checkpoint':
        // After a shutdown checkpoint no transaction of before is open (a crash leaves no abort record).
        if (decoded.shutdown) this.state.clear();
        return;
      case 'end_of_recovery':
        this.state.clear();
        return;
      default:
        break;
    }
    if (rec.rmid === F.RM_HEAP_ID || rec.rmid === F.RM_HEAP2_ID) this.heap(rec);
    else if (rec.rmid === F.RM_SMGR_ID && (rec.info & 0xf0) === F.XLOG_SMGR_TRUNCATE && rec.xid !== 0) {
      const d = recordLayout(rec).main;
      if (d.length >= 16 && d.readUInt32LE(0) === 0) {
        const rel = relKey({ spc: d.readUInt32LE(4), db: d.readUInt32LE(8), rel: d.readUInt32LE(12) });
        const p = this.pending(rec.xid);
        p.truncated = addTo(p.truncated, rel);
      }
    } else if (rec.rmid === F.RM_DBASE_ID && (rec.info & 0xf0) === F.xlogDbaseDrop(rec.major) && rec.xid !== 0) {
      const d = recordLayout(rec).main;
      if (d.length >= 4) {
        const p = this.pending(rec.xid);
        const db = d.readUInt32LE(0);
        if (!p.droppedDbs?.includes(db)) p.droppedDbs = [...(p.droppedDbs ?? []), db];
      }
    } else if (rec.rmid === F.RM_STANDBY_ID && (rec.info & 0xf0) === F.XLOG_RUNNING_XACTS) {
      // Every xid before oldestRunningXid has ended, and its commit or abort came before this record.
      const d = recordLayout(rec).main;
      if (d.length >= F.RUNNING_XACTS_OLDEST_OFFSET + 4) {
        const oldest = d.readUInt32LE(F.RUNNING_XACTS_OLDEST_OFFSET);
        for (const xid of [...this.state.keys()]) if (xidPrecedes(xid, oldest)) this.state.delete(xid);
      }
    } else if (rec.rmid === F.RM_XLOG_ID && (rec.info & 0xf0) === F.XLOG_FPI && rec.xid !== 0) {
      // Pages written whole into a relation the transaction fills (rewrites: VACUUM FULL, CLUSTER);
      // an index build of an empty table writes block 0 only.
      const p = this.pending(rec.xid);
      for (const b of recordLayout(rec).blocks) if (b.block > 0 && b.relFile.rel >= F.FIRST_NORMAL_OBJECT_ID) p.filled = addTo(p.filled, relKey(b.relFile));
      if (!p.filled) this.dropIfEmpty(rec.xid, p);
    }
  }

  private dropIfEmpty(xid: number, p: PendingXact): void {
    if (Object.keys(p).length === 0) this.state.delete(xid);
  }

  private heap(rec: WalRecord): void {
    if (rec.xid === 0) return;
    const op = rec.info & F.XLOG_HEAP_OPMASK;
    const isHeap = rec.rmid === F.RM_HEAP_ID;
    const del = isHeap && op === F.XLOG_HEAP_DELETE;
    const upd = isHeap && (op === F.XLOG_HEAP_UPDATE || op === F.XLOG_HEAP_HOT_UPDATE);
    const ins = (isHeap && op === F.XLOG_HEAP_INSERT) || (!isHeap && op === F.XLOG_HEAP2_MULTI_INSERT);
    if (!del && !upd && !ins) return;
    const block = recordLayout(rec).blocks[0];
    if (!block) return;
    const rel = block.relFile;
    const key = relKey(rel);
    if (rel.rel < F.FIRST_NORMAL_OBJECT_ID) {
      if (NOT_SCHEMA.has(rel.rel)) return;
      const p = this.pending(rec.xid);
      p.cat = bump(p.cat, key);
      if (del && rel.rel === F.PG_CLASS_RELFILE) p.classDel = (p.classDel ?? 0) + 1;
      if (upd && rel.rel === F.PG_CLASS_RELFILE) p.classUpd = (p.classUpd ?? 0) + 1;
      return;
    }
    const p = this.pending(rec.xid);
    if (del) p.del = bump(p.del, key);
    else if (upd) p.upd = bump(p.upd, key);
    else if (!p.filled?.includes(key)) p.filled = addTo(p.filled, key);
  }

  private commit(c: Extract<WalEvent, { kind: 'commit' | 'abort' }>): void {
    const merged: PendingXact = {};
    for (const x of [c.xid, ...c.subxacts]) {
      const p = this.state.get(x);
      if (!p) continue;
      this.state.delete(x);
      for (const [k, n] of Object.entries(p.del ?? {})) merged.del = bump(merged.del, k, n);
      for (const [k, n] of Object.entries(p.upd ?? {})) merged.upd = bump(merged.upd, k, n);
      for (const [k, n] of Object.entries(p.cat ?? {})) merged.cat = bump(merged.cat, k, n);
      if (p.classDel) merged.classDel = (merged.classDel ?? 0) + p.classDel;
      if (p.classUpd) merged.classUpd = (merged.classUpd ?? 0) + p.classUpd;
      for (const k of p.filled ?? []) merged.filled = addTo(merged.filled, k);
      for (const k of p.truncated ?? []) merged.truncated = addTo(merged.truncated, k);
      for (const d of p.droppedDbs ?? []) merged.droppedDbs = [...(merged.droppedDbs ?? []), d];
    }
    const base = { lsn: c.lsn, time: c.time, xid: c.xid, name: null };
    const push = (kind: IndexEventKind, db: number | null, rels: string[], rows: number | null) => this.events.push({ kind, ...base, db, rels, rows });
    let structural = false;
    for (const db of merged.droppedDbs ?? []) {
      push('drop_database', db, [], null);
      structural = true;
    }
    const dropped = c.dropped.map(relKey);
    if (dropped.length > 0 && !merged.droppedDbs?.length) {
      const droppedSet = new Set(dropped);
      push(dropKind(merged, droppedSet), c.dbId ?? c.dropped[0]!.db, dropped, null);
      structural = true;
    }
    const truncated = (merged.truncated ?? []).filter((k) => !dropped.includes(k));
    if (truncated.length > 0) {
      push('truncate', c.dbId, truncated, null);
      structural = true;
    }
    for (const [k, n] of Object.entries(merged.del ?? {})) if (n >= MIN_INDEXED_ROWS) push('delete', Number(k.split('/')[0]), [k], n);
    for (const [k, n] of Object.entries(merged.upd ?? {})) if (n >= MIN_INDEXED_ROWS) push('update', Number(k.split('/')[0]), [k], n);
    if (!structural && merged.cat) {
      const rels = Object.keys(merged.cat);
      push('schema', c.dbId, rels, Object.values(merged.cat).reduce((a, b) => a + b, 0));
    }
  }
}

/**
 * What a committed transaction that drops relation files did. DROP deletes the relations' pg_class
 * rows (and updates none, or fewer); TRUNCATE updates them (new files) and fills nothing; a rewrite
 * (ALTER TABLE … TYPE, VACUUM FULL, CLUSTER) fills new files, or swaps files between two pg_class
 * rows and deletes the transient one.
 */
function dropKind(p: PendingXact, dropped: ReadonlySet<string>): IndexEventKind {
  const del = p.classDel ?? 0;
  const upd = p.classUpd ?? 0;
  if (del > upd) return 'drop';
  if (del > 0) return 'rewrite';
  return (p.filled ?? []).some((k) => !dropped.has(k)) ? 'rewrite' : 'truncate';
}

// ---- JSON form: LSN as 'X/Y' ----

export interface IndexEventJson extends Omit<IndexEvent, 'lsn'> {
  lsn: string;
}
