import { z } from 'zod';
import { PitrdError } from '../errors.js';
import type { ObjectStore } from '../storage/types.js';
import type { DatabaseKeys } from './keys.js';
import { describeIssues, type MetaStore } from './meta.js';

const isoTime = z.string().refine((s) => !Number.isNaN(Date.parse(s)), { error: 'expected an ISO 8601 time' });
const seconds = z.number().nonnegative().nullable();

export const DRILL_STATUSES = ['running', 'succeeded', 'failed', 'interrupted'] as const;
/** A drill's phases, in order: fetch (plan and read the repository's catalog), extract (download and unpack the base backup), replay (WAL), checks. */
export const DRILL_PHASES = ['fetch', 'extract', 'replay', 'checks'] as const;
export type DrillPhase = (typeof DRILL_PHASES)[number];

/** What went wrong, in which phase, on which object (a repository key, an index, a table, a check). */
export const DrillFailureSchema = z.looseObject({
  phase: z.enum(DRILL_PHASES),
  /** A repository key (a WAL segment, a backup file), `db.schema.index`, `db.schema.table`, or `check_sql[i]`; null when none is known. */
  object: z.string().nullable(),
  code: z.string(),
  message: z.string(),
});

/**
 * drills/{id}.json: a restore drill (src/service/drill-run.ts). Loose: a newer pitrd may add
 * fields, which an older one keeps when it rewrites the record.
 */
export const DrillRecordSchema = z.looseObject({
  id: z.string().min(1),
  database: z.string().min(1),
  project: z.string().min(1),
  status: z.enum(DRILL_STATUSES),
  /** What started it: the database's drill_schedule, the API, the CLI. */
  trigger: z.enum(['schedule', 'api', 'cli']),
  backup_id: z.string().nullable().default(null),
  /** The restore the drill ran (restores/{id}.json). */
  restore_id: z.string().nullable().default(null),
  /** The recovery target PostgreSQL was given (the LSN of the last archived record for "latest"). */
  target: z.string().nullable().default(null),
  started_at: isoTime,
  completed_at: isoTime.nullable().default(null),
  /** Seconds per phase; null for a phase not reached. */
  phases: z.strictObject({ fetch: seconds, extract: seconds, replay: seconds, checks: seconds }),
  /** Measured recovery time: fetch + extract + replay (until the restored server was usable); null unless it got there. */
  rto_seconds: seconds,
  wal: z.strictObject({ segments: z.int().nonnegative(), bytes: z.number().nonnegative() }).nullable().default(null),
  checks: z
    .looseObject({
      databases: z.int().nonnegative(),
      tables: z.int().nonnegative(),
      rows: z.number().nonnegative(),
      indexes_checked: z.int().nonnegative(),
      /** Databases where amcheck was not available (no contrib on this host): their indexes were not checked. */
      amcheck_unavailable: z.array(z.string()),
      sql_checks: z.int().nonnegative(),
    })
    .nullable()
    .default(null),
  failures: z.array(DrillFailureSchema).default([]),
});

export type DrillRecord = z.output<typeof DrillRecordSchema>;
export type DrillRecordInput = z.input<typeof DrillRecordSchema>;
export type DrillFailure = z.output<typeof DrillFailureSchema>;
export type DrillStatus = (typeof DRILL_STATUSES)[number];

/** Records of restore drills of one database: `drills/{id}.json`. */
export class DrillStore {
  constructor(
    private readonly keys: DatabaseKeys,
    private readonly store: ObjectStore,
    private readonly meta: MetaStore,
  ) {}

  async save(input: DrillRecordInput): Promise<DrillRecord> {
    const parsed = DrillRecordSchema.safeParse(input);
    if (!parsed.success) {
      throw new PitrdError('VALIDATION_ERROR', `drill ${String(input.id)}: invalid record: ${describeIssues(parsed.error.issues)}`, { context: { drill: input.id } });
    }
    const rec = parsed.data;
    if (rec.database !== this.keys.database || rec.project !== this.keys.project) {
      throw new PitrdError('VALIDATION_ERROR', `drill ${rec.id} belongs to database "${rec.project}/${rec.database}", not "${this.keys.project}/${this.keys.database}"`, { context: { drill: rec.id } });
    }
    await this.meta.write(this.keys.drillJson(rec.id), DrillRecordSchema, rec);
    return rec;
  }

  async get(id: string): Promise<DrillRecord | null> {
    return this.meta.read(this.keys.drillJson(id), DrillRecordSchema);
  }

  /** The ids of every recorded drill (a listing, no read). */
  async ids(): Promise<string[]> {
    const out: string[] = [];
    for await (const o of this.store.listAll(this.keys.drillsPrefix)) {
      const m = /^([^/]+)\.json$/.exec(o.key.slice(this.keys.drillsPrefix.length));
      if (m) out.push(m[1]!);
    }
    return out;
  }

  /** Oldest first (started_at, then id). */
  async list(): Promise<DrillRecord[]> {
    const out: DrillRecord[] = [];
    for (const id of await this.ids()) {
      const rec = await this.get(id);
      if (rec) out.push(rec);
    }
    return out.sort(byStart);
  }
}

export function byStart(a: DrillRecord, b: DrillRecord): number {
  return a.started_at === b.started_at ? (a.id < b.id ? -1 : a.id > b.id ? 1 : 0) : Date.parse(a.started_at) - Date.parse(b.started_at);
}
