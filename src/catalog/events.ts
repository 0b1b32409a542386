/**
 * The event index as users read it ("find the accident"): the indexed events of a database with
 * relation and database names (from the relation maps taken at or before each event, else the
 * first one after), filters, and the restore target just before each event. Also the lookup of one
 * event by id, which `pitrd restore --before-event` and the API's `before_event` use.
 */
import { PitrdError } from '../errors.js';
import type { DatabaseRepository, RelationMap } from '../repository/index.js';
import { EVENT_CHUNK_SEGMENTS } from '../repository/index.js';
import type { TimelineId } from '../types.js';
import { eventFromJson, formatLsn, INDEX_EVENT_KINDS, isoToTimestampTz, MIN_INDEXED_ROWS, parseLsn, parseSegmentName, type IndexEvent, type IndexEventJson, type IndexEventKind } from '../wal/index.js';
import { databaseIdentity } from './load.js';

/** The restore target just before an event, in the API's body fields (and the CLI's options). */
export type EventRestoreTarget = { target_xid: string; inclusive: false; timeline: TimelineId } | { target_name: string; timeline: TimelineId };

export interface ResolvedEvent {
  /** `evt_{LSN, 16 hex digits}_{timeline, 8 hex digits}_{n}`: sorts in WAL order. */
  id: string;
  kind: IndexEventKind;
  timeline: TimelineId;
  lsn: string;
  time: string;
  xid: string | null;
  database: string | null;
  /** schema.name of the relations the event is about (tables first; indexes, TOAST and sequences only when nothing else). */
  relations: string[];
  rows: number | null;
  restore_point: string | null;
  restore_target: EventRestoreTarget;
}

export interface EventQuery {
  kinds?: readonly IndexEventKind[];
  /** `schema.name`, or a bare name matching any schema. */
  relation?: string;
  /** RFC 3339 bounds on the event's time (inclusive). */
  from?: string;
  to?: string;
  /** delete / update events below this many rows are left out. */
  minRows: number;
}

/** The query as the API and CLI receive it (strings), and how each field is spelled for messages. */
export interface RawEventQuery {
  kind?: string | undefined;
  relation?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
  minRows?: number | undefined;
}

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)$/;

/**
 * The one validation of an event query (API query string, CLI options): kinds from
 * INDEX_EVENT_KINDS (comma-separated), RFC 3339 bounds with from ≤ to, min_rows ≥ MIN_INDEXED_ROWS.
 * VALIDATION_ERROR names the field as the caller spells it (`names`).
 */
export function parseEventQuery(raw: RawEventQuery, defaultMinRows: number, names: { kind: string; relation: string; from: string; to: string; minRows: string }): EventQuery {
  const bad = (field: string, why: string) => new PitrdError('VALIDATION_ERROR', `${field}: ${why}`, { context: { fields: [field] } });
  const q: EventQuery = { minRows: raw.minRows ?? defaultMinRows };
  if (raw.kind !== undefined) {
    const kinds = raw.kind.split(',').map((k) => k.trim());
    for (const k of kinds) if (!(INDEX_EVENT_KINDS as readonly string[]).includes(k)) throw bad(names.kind, `"${k.slice(0, 40)}" is not an event kind (${INDEX_EVENT_KINDS.join(', ')})`);
    q.kinds = kinds as IndexEventKind[];
  }
  if (raw.relation !== undefined) {
    if (raw.relation === '' || raw.relation.length > 200) throw bad(names.relation, 'expected a relation name such as public.orders or orders');
    q.relation = raw.relation;
  }
  for (const [key, field] of [['from', names.from], ['to', names.to]] as const) {
    const v = raw[key];
    if (v === undefined) continue;
    if (!RFC3339.test(v)) throw bad(field, `"${v.slice(0, 60)}" is not an RFC 3339 time such as 2026-01-25T14:30:00Z`);
    try {
      isoToTimestampTz(v);
    } catch {
      throw bad(field, `"${v.slice(0, 60)}" is not a valid time`);
    }
    q[key] = v;
  }
  if (q.from !== undefined && q.to !== undefined && isoToTimestampTz(q.from) > isoToTimestampTz(q.to)) throw bad(names.to, `${q.to} is before ${names.from} ${q.from}`);
  if (!Number.isInteger(q.minRows) || q.minRows < MIN_INDEXED_ROWS) throw bad(names.minRows, `expected an integer of at least ${MIN_INDEXED_ROWS} (rows are indexed from ${MIN_INDEXED_ROWS} on)`);
  return q;
}

/** The default threshold of a "large" delete or update (config `events.large_change_rows`). */
export const DEFAULT_LARGE_CHANGE_ROWS = 1000;

const ID_RE = /^evt_([0-9A-F]{16})_([0-9A-F]{8})_(\d{1,4})$/;

export function eventId(lsn: bigint, timeline: TimelineId, n: number): string {
  return `evt_${lsn.toString(16).toUpperCase().padStart(16, '0')}_${timeline.toString(16).toUpperCase().padStart(8, '0')}_${n}`;
}

/** EVENT_ID_INVALID unless `id` has the shape of an event id; its LSN, timeline and ordinal. */
export function parseEventId(id: string, as = 'event id'): { lsn: bigint; timeline: TimelineId; n: number } {
  const m = ID_RE.exec(id);
  const timeline = m ? Number.parseInt(m[2]!, 16) : 0;
  if (!m || timeline < 1) {
    throw new PitrdError('EVENT_ID_INVALID', `${as}: "${id.slice(0, 80)}" is not an event id such as evt_0000000006B89D00_00000001_0 (see pitrd events)`, { context: { event: id.slice(0, 80) } });
  }
  return { lsn: BigInt(`0x${m[1]}`), timeline, n: Number(m[3]) };
}

type RelName = { lsn: bigint; name: string; kind: string };

/** Relation files and databases → names over every map, in LSN order. */
class Names {
  private readonly rels = new Map<string, RelName[]>();
  private readonly dbs = new Map<number, RelName[]>();

  constructor(maps: readonly RelationMap[]) {
    const push = <K>(m: Map<K, RelName[]>, k: K, v: RelName) => {
      const list = m.get(k);
      if (!list) m.set(k, [v]);
      else if (list[list.length - 1]!.name !== v.name) list.push(v);
    };
    for (const map of maps) {
      const lsn = parseLsn(map.lsn);
      for (const d of map.databases) {
        push(this.dbs, d.oid, { lsn, name: d.name, kind: 'd' });
        for (const [file, name, kind] of d.relations) push(this.rels, `${d.oid}/${file}`, { lsn, name, kind });
      }
    }
  }

  /** The name the newest map at or before `lsn` gives, else the oldest map after it. */
  private static at(list: RelName[] | undefined, lsn: bigint): RelName | null {
    if (!list) return null;
    let best: RelName | null = null;
    for (const e of list) {
      if (e.lsn <= lsn) best = e;
      else return best ?? e;
    }
    return best;
  }

  relation(key: string, lsn: bigint): RelName | null {
    return Names.at(this.rels.get(key), lsn);
  }

  database(oid: number | null, lsn: bigint): string | null {
    return oid === null ? null : (Names.at(this.dbs.get(oid), lsn)?.name ?? null);
  }
}

/** Tables, views and partitioned tables come first; indexes, TOAST and sequences only name an event alone. */
const SECONDARY = new Set(['i', 'I', 't', 'S']);

function resolve(e: IndexEvent, timeline: TimelineId, n: number, names: Names): ResolvedEvent {
  const rels = e.rels.map((k) => names.relation(k, e.lsn) ?? { lsn: 0n, name: `relfile ${k}`, kind: '?' });
  const primary = rels.filter((r) => !SECONDARY.has(r.kind));
  let kind = e.kind;
  // A truncate of indexes alone is a REINDEX (new files for the indexes), not an accident.
  if (kind === 'truncate' && rels.length > 0 && rels.every((r) => r.kind === 'i' || r.kind === 'I')) kind = 'rewrite';
  return {
    id: eventId(e.lsn, timeline, n),
    kind,
    timeline,
    lsn: formatLsn(e.lsn),
    time: e.time,
    xid: e.xid === null ? null : String(e.xid),
    database: names.database(e.db, e.lsn),
    relations: (primary.length ? primary : rels).map((r) => r.name),
    rows: e.rows,
    restore_point: e.name,
    restore_target: e.kind === 'restore_point' ? { target_name: e.name ?? '', timeline } : { target_xid: String(e.xid), inclusive: false, timeline },
  };
}

function matches(e: ResolvedEvent, q: EventQuery, from: bigint | null, to: bigint | null): boolean {
  if (q.kinds && q.kinds.length && !q.kinds.includes(e.kind)) return false;
  if ((e.kind === 'delete' || e.kind === 'update') && (e.rows ?? 0) < q.minRows) return false;
  if (q.relation !== undefined) {
    const want = q.relation;
    if (!e.relations.some((r) => r === want || (!want.includes('.') && r.slice(r.indexOf('.') + 1) === want))) return false;
  }
  if (from !== null || to !== null) {
    const t = isoToTimestampTz(e.time);
    if (from !== null && t < from) return false;
    if (to !== null && t > to) return false;
  }
  return true;
}

/** Every indexed event of one segment's list, resolved (ordinals count events at the same LSN). */
function resolveAll(timeline: TimelineId, events: readonly IndexEventJson[], names: Names, out: ResolvedEvent[]): void {
  let lastLsn = -1n;
  let n = 0;
  for (const j of events) {
    const e = eventFromJson(j);
    n = e.lsn === lastLsn ? n + 1 : 0;
    lastLsn = e.lsn;
    out.push(resolve(e, timeline, n, names));
  }
}

/** The database's events matching `q`, in WAL order (LSN, then timeline). */
export async function queryEvents(db: DatabaseRepository, q: EventQuery): Promise<ResolvedEvent[]> {
  const [segments, maps] = await Promise.all([db.events.readAll<IndexEventJson>(), db.relationMaps.list()]);
  const names = new Names(maps);
  const from = q.from === undefined ? null : isoToTimestampTz(q.from);
  const to = q.to === undefined ? null : isoToTimestampTz(q.to);
  const all: ResolvedEvent[] = [];
  for (const s of segments) resolveAll(s.timeline, s.events, names, all);
  return all.filter((e) => matches(e, q, from, to)).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * One event by id (reads the one index object that can hold it): EVENT_ID_INVALID for a malformed
 * id, EVENT_NOT_FOUND for one the index does not hold.
 */
export async function findEvent(db: DatabaseRepository, id: string, as = 'event id'): Promise<ResolvedEvent> {
  const { lsn, timeline } = parseEventId(id, as);
  const { segSize } = await databaseIdentity(db);
  const segno = lsn / BigInt(segSize);
  const chunk = await db.events.readChunkOf<IndexEventJson>(timeline, segno / EVENT_CHUNK_SEGMENTS);
  const segName = Object.keys(chunk).find((name) => parseSegmentName(name, segSize).segno === segno);
  if (segName !== undefined) {
    const names = new Names(await db.relationMaps.list());
    const out: ResolvedEvent[] = [];
    resolveAll(timeline, chunk[segName]!, names, out);
    const hit = out.find((e) => e.id === id);
    if (hit) return hit;
  }
  throw new PitrdError('EVENT_NOT_FOUND', `${as}: database "${db.name}" has no event ${id} in its event index (list them with pitrd events, or GET …/pitr/events)`, {
    context: { event: id, database: db.name },
  });
}
