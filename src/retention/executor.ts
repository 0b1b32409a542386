import { crashPoint } from '../crash/index.js';
import { z } from 'zod';
import { isPitrdError, PitrdError } from '../errors.js';
import type { DatabaseRepository, Repository, DatabaseRef } from '../repository/index.js';
import type { ObjectStore } from '../storage/index.js';
import { loadInventory, walObjectId } from './inventory.js';
import { planExpiry } from './plan.js';
import { planToJson, type ExpiryPlanJson } from './report.js';
import type { RetentionPolicy } from './types.js';

/** One deletion, in execution order; the unit a crash can fall between. */
export type ExpiryStep =
  | { kind: 'backup-json'; backup: string }
  | { kind: 'backup-data'; backup: string; objects: number }
  /** Summaries and commit markers of a batch deleted: its segments are no longer archived. */
  | { kind: 'wal-markers'; segments: { timeline: number; segment: string }[] }
  /** The segment objects of the same batch deleted. */
  | { kind: 'wal-objects'; segments: { timeline: number; segment: string }[] }
  | { kind: 'history'; timeline: number };

export interface RunExpiryOptions {
  /** List what would be deleted; delete and write nothing. */
  dryRun?: boolean;
  /** The decision time (default: the clock). */
  now?: Date | number;
  /** Called after each deletion step; what it throws aborts the run (tests inject crashes here). */
  afterStep?: (step: ExpiryStep, done: number) => void | Promise<void>;
  /** Segments per WAL deletion batch (default 500; S3 DeleteObjects takes up to 1000 keys). */
  walBatchSize?: number;
}

export interface ExpiryReport {
  database: string;
  dry_run: boolean;
  started_at: string;
  finished_at: string;
  /** What an interrupted earlier run had left half done and this run finished. */
  resumed: { backups: string[]; wal_segments: number };
  plan: ExpiryPlanJson;
  deleted: { backups: string[]; wal_segments: number; histories: number[] };
}

/**
 * The journal of a run in progress: written before the first deletion, removed after the last.
 * Its job is to find what a crash left half deleted (backup data without its backup.json, a
 * segment object without its marker) — things no listing shows any more.
 */
const JournalSchema = z.object({
  started_at: z.string(),
  backups: z.array(z.string()),
  wal: z.array(z.object({ timeline: z.int().positive(), segment: z.string() })),
  histories: z.array(z.int().positive()),
});
type Journal = z.infer<typeof JournalSchema>;


async function readJson(store: ObjectStore, key: string): Promise<unknown> {
  try {
    return JSON.parse((await store.getBuffer(key)).toString('utf8'));
  } catch (err) {
    if (isPitrdError(err, 'OBJECT_NOT_FOUND')) return null;
    throw err;
  }
}

const putJson = (store: ObjectStore, key: string, value: unknown) => store.put(key, Buffer.from(JSON.stringify(value, null, 2)));

async function keysUnder(store: ObjectStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.listAll(prefix)) out.push(o.key);
  return out;
}

/**
 * Apply the retention policy to one database. Order of a real run, each step idempotent:
 * a journal naming everything to delete; per backup, backup.json before its data (nothing looks
 * restorable from half-deleted data); WAL oldest first in batches, each batch's summaries and
 * commit markers before its objects (the order RepoWalArchive.removeSegments uses, batched so a
 * day of WAL is a few DeleteObjects calls, not four requests per segment); history files last;
 * then the journal is removed and the report recorded.
 * A run that crashed is finished by the next one: first the half-deleted leftovers its journal
 * names, then a fresh plan (which, for the same inventory, decides the same).
 * The caller must hold the database's retention lock: two concurrent runs are not coordinated here.
 */
export async function runExpiry(repo: Repository, ref: DatabaseRef, policy: RetentionPolicy, opts: RunExpiryOptions = {}): Promise<ExpiryReport> {
  const startedAt = new Date();
  const now = opts.now === undefined ? startedAt.getTime() : typeof opts.now === 'number' ? opts.now : opts.now.getTime();
  const db = repo.database(ref);
  const dbName = ref.name;
  const store = repo.store;
  const dryRun = opts.dryRun ?? false;
  let done = 0;
  const step = async (s: ExpiryStep) => {
    done += 1;
    crashPoint('retention.after-delete');
    await opts.afterStep?.(s, done);
  };

  const resumed = { backups: [] as string[], wal_segments: 0 };
  const rawJournal = await readJson(store, db.keys.retentionJournal);
  if (rawJournal !== null && !dryRun) {
    const parsed = JournalSchema.safeParse(rawJournal);
    if (!parsed.success) {
      throw new PitrdError('REPO_INVALID', `retention journal ${db.keys.retentionJournal} of database "${dbName}" is not valid: ${parsed.error.message}`, { context: { key: db.keys.retentionJournal } });
    }
    await finishJournal(db, store, parsed.data, resumed);
  }

  const { inventory, walObjects } = await loadInventory(db);
  const plan = planExpiry(inventory, policy, now);
  const report: ExpiryReport = {
    database: dbName,
    dry_run: dryRun,
    started_at: startedAt.toISOString(),
    finished_at: '',
    resumed,
    plan: planToJson(plan),
    deleted: { backups: [], wal_segments: 0, histories: [] },
  };
  if (dryRun) {
    report.finished_at = new Date().toISOString();
    return report;
  }

  const wal = plan.deleteWal
    .flatMap((r) => r.segments.map((segment, i) => ({ timeline: r.timeline, segment, startLsn: r.startLsn + (r.endLsn - r.startLsn) / BigInt(r.count) * BigInt(i) })))
    .sort((a, b) => (a.startLsn < b.startLsn ? -1 : a.startLsn > b.startLsn ? 1 : a.timeline - b.timeline));
  const journal: Journal = { started_at: startedAt.toISOString(), backups: plan.deleteBackups.map((b) => b.id), wal: wal.map(({ timeline, segment }) => ({ timeline, segment })), histories: plan.deleteHistories };
  const anything = journal.backups.length + journal.wal.length + journal.histories.length > 0;
  if (anything) await putJson(store, db.keys.retentionJournal, journal);

  for (const id of journal.backups) {
    await store.delete([db.keys.backupJson(id)]);
    await step({ kind: 'backup-json', backup: id });
    const data = await keysUnder(store, `${db.keys.backupsPrefix}${id}/`);
    if (data.length) await store.delete(data);
    await step({ kind: 'backup-data', backup: id, objects: data.length });
    report.deleted.backups.push(id);
  }
  // Oldest first, in batches: summaries and markers of a batch, then its objects. A crash between
  // the two leaves uncommitted objects that the journal lets the next run find.
  const batchSize = Math.max(1, opts.walBatchSize ?? 500);
  for (let i = 0; i < wal.length; i += batchSize) {
    const batch = wal.slice(i, i + batchSize).map(({ timeline, segment }) => ({ timeline, segment }));
    const keys = batch.map((s) => walObjects.get(walObjectId(s.timeline, s.segment)));
    await db.walSummaries.remove(batch);
    const markers = keys.filter((k) => k !== undefined).map((k) => k.markerKey);
    if (markers.length) await store.delete(markers);
    await step({ kind: 'wal-markers', segments: batch });
    const objects = keys.filter((k) => k !== undefined).map((k) => k.objectKey);
    if (objects.length) await store.delete(objects);
    // A listing without keys (another WalArchive implementation): let the repository find them.
    const unkeyed = batch.filter((_, j) => keys[j] === undefined).map((s) => ({ timeline: s.timeline, name: s.segment }));
    if (unkeyed.length) await db.wal.removeSegments(unkeyed);
    await step({ kind: 'wal-objects', segments: batch });
    report.deleted.wal_segments += batch.length;
  }
  for (const t of journal.histories) {
    await store.delete([db.keys.history(t)]);
    await step({ kind: 'history', timeline: t });
    report.deleted.histories.push(t);
  }
  if (anything) await store.delete([db.keys.retentionJournal]);
  report.finished_at = new Date().toISOString();
  await putJson(store, db.keys.retentionReport, report);
  return report;
}

/** Finish what a crashed run left half done; whole items are left to the fresh plan to decide again. */
async function finishJournal(db: DatabaseRepository, store: ObjectStore, journal: Journal, resumed: ExpiryReport['resumed']): Promise<void> {
  for (const id of journal.backups) {
    if (await db.backups.get(id)) continue;
    const data = await keysUnder(store, `${db.keys.backupsPrefix}${id}/`);
    if (data.length) {
      await store.delete(data);
      resumed.backups.push(id);
    }
  }
  // One listing per timeline finds every leftover: objects of journal segments that are no longer
  // committed (their marker is gone, or the object never had one left).
  const committed = new Set<string>();
  for await (const s of db.wal.listSegments()) committed.add(walObjectId(s.timeline, s.name));
  const byTimeline = new Map<number, Set<string>>();
  for (const s of journal.wal) {
    if (committed.has(walObjectId(s.timeline, s.segment))) continue;
    const set = byTimeline.get(s.timeline) ?? new Set<string>();
    set.add(s.segment);
    byTimeline.set(s.timeline, set);
  }
  for (const [timeline, names] of byTimeline) {
    const prefix = db.keys.walTimelinePrefix(timeline);
    const leftovers = (await keysUnder(store, prefix)).filter((k) => names.has(k.slice(prefix.length, prefix.length + 24)));
    await db.walSummaries.remove([...names].map((segment) => ({ timeline, segment })));
    if (leftovers.length) {
      await store.delete(leftovers);
      resumed.wal_segments += new Set(leftovers.map((k) => k.slice(prefix.length, prefix.length + 24))).size;
    }
  }
  await store.delete([db.keys.retentionJournal]);
}
