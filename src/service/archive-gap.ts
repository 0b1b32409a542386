/**
 * Continuous archive-gap detection for the health monitor: which WAL segments a restore would need
 * and the archive lacks (src/catalog findContinuityGaps, the check `pitrd verify --quick` makes).
 *
 * Cost per check: one LIST of the WAL prefix (keys only: name, size and checksum come from the
 * commit markers) and one LIST of the backups prefix. No segment is read. A LIST is needed every
 * time because what makes a gap is a deletion (an object lost or removed by hand), which no
 * incremental feed of uploads would show. Immutable inputs are cached: timeline history files and
 * the start points of finished backups are fetched once per database.
 */
import { findContinuityGaps, readHistory, type ContinuityGap } from '../catalog/index.js';
import { isPitrdError, loggedError } from '../errors.js';
import { refKey, type DatabaseRef, type Repository } from '../repository/index.js';
import type { ArchiveGap } from '../health/index.js';
import type { TimelineId } from '../types.js';
import { parseLsn, parseSegmentName, segnoOf, type TimelineHistory } from '../wal/index.js';

export interface ArchiveGapState {
  /** The oldest run of missing segments, or null when the archive is continuous. */
  gap: ArchiveGap | null;
  /** Missing segments in all gaps (0 when continuous). */
  missingSegments: number;
  /** When the listing was taken (epoch ms). */
  checkedAt: number;
}

export interface ArchiveGapLogger {
  warn(obj: Record<string, unknown>, msg: string): void;
}

/** Longer than any retention run is expected to take (batched deletes: minutes for a month of WAL). */
const RETENTION_RUN_MAX_MS = 3_600_000;

type BackupStart = { id: string; timeline: TimelineId; startSegno: bigint } | 'none';

interface PerDatabase {
  /** The archive the caches below belong to (a database deleted and registered again is another). */
  systemId: string | null;
  segSize: number;
  histories: Map<TimelineId, TimelineHistory>;
  /** Backups whose record can no longer change what the check needs (finished ones). */
  backups: Map<string, BackupStart>;
  last: ArchiveGapState | null;
  running: Promise<ArchiveGapState | null> | null;
}

/**
 * Reduce continuity gaps to the alert's view: the first missing run (lowest timeline, then LSN)
 * and the number of distinct missing segments. A gap on a parent timeline shows up again in each
 * child's lineage, hence the de-duplication by name.
 */
export function summarizeGaps(gaps: readonly ContinuityGap[], segSize: number): { gap: ArchiveGap | null; missingSegments: number } {
  const first = gaps.find((g) => g.missing.length > 0);
  if (!first) return { gap: null, missingSegments: 0 };
  const names = first.missing;
  let to = names[0]!;
  let prev = parseSegmentName(to, segSize).segno;
  for (const n of names.slice(1)) {
    const s = parseSegmentName(n, segSize).segno;
    if (s !== prev + 1n) break;
    to = n;
    prev = s;
  }
  const all = new Set(gaps.flatMap((g) => g.missing));
  return { gap: { timeline: first.timeline, missingFrom: names[0]!, missingTo: to, missingSegments: all.size, backups: first.backups }, missingSegments: all.size };
}

export class ArchiveGapMonitor {
  private readonly dbs = new Map<string, PerDatabase>();

  constructor(
    private readonly repo: Repository,
    private readonly logger?: ArchiveGapLogger,
    /** How long a retention journal counts as a run in progress (default 1 h). */
    private readonly retentionRunMaxMs = RETENTION_RUN_MAX_MS,
  ) {}

  private state(ref: DatabaseRef): PerDatabase {
    const name = refKey(ref);
    let d = this.dbs.get(name);
    if (!d) {
      d = { systemId: null, segSize: 0, histories: new Map(), backups: new Map(), last: null, running: null };
      this.dbs.set(name, d);
    }
    return d;
  }

  /** The last result, if taken within `maxAgeMs`; otherwise a fresh check. null: nothing archived yet. */
  async current(ref: DatabaseRef, maxAgeMs: number, now = Date.now()): Promise<ArchiveGapState | null> {
    const d = this.state(ref);
    if (d.last && now - d.last.checkedAt < maxAgeMs) return d.last;
    return this.check(ref);
  }

  /**
   * List the archive now (one check at a time per database; callers share it). A failure (storage
   * down) keeps the previous result: an outage of the bucket is not the gap being repaired.
   */
  check(ref: DatabaseRef): Promise<ArchiveGapState | null> {
    const d = this.state(ref);
    d.running ??= this.once(ref, d)
      .catch((err: unknown) => {
        this.logger?.warn({ project: ref.project, database: ref.name, err: loggedError(err) }, 'archive gap check failed; keeping the previous result');
        return d.last;
      })
      .finally(() => {
        d.running = null;
      });
    return d.running;
  }

  /** Wait for checks under way (shutdown). */
  async idle(): Promise<void> {
    await Promise.all([...this.dbs.values()].map((d) => d.running?.catch(() => undefined)));
  }

  private async once(ref: DatabaseRef, d: PerDatabase): Promise<ArchiveGapState | null> {
    const db = this.repo.database(ref);
    const info = await db.info();
    // Nothing was ever archived or backed up (or it was all deleted): no archive, no gap.
    if (!info) {
      d.last = null;
      return null;
    }
    if (d.systemId !== info.system_identifier) {
      d.systemId = info.system_identifier;
      d.segSize = info.wal_segment_size;
      d.histories.clear();
      d.backups.clear();
    }
    const segSize = d.segSize;
    // A retention run deletes oldest first while a listing runs forwards: mid-run the listing can
    // show holes that are not there once it ends. Keep the previous result until it finishes. A
    // journal older than that is a crashed run's, left for the next run to finish: its leftovers
    // are a prefix of the archive gone, never a hole, so the check goes on.
    const journal = await this.repo.store.head(db.keys.retentionJournal);
    if (journal && Date.now() - journal.lastModified.getTime() < this.retentionRunMaxMs) return d.last;

    const checkedAt = Date.now();
    // WAL before backups: a backup expired between the two listings is then absent from the
    // second, never present with its WAL already gone.
    const archived = new Map<TimelineId, Set<bigint>>();
    for await (const s of db.wal.listSegments()) {
      const set = archived.get(s.timeline) ?? new Set<bigint>();
      set.add(parseSegmentName(s.name, segSize).segno);
      archived.set(s.timeline, set);
    }
    for (const tli of archived.keys()) {
      if (tli === 1 || d.histories.has(tli)) continue;
      const h = await readHistory(db, tli);
      // A broken history file is verify's to report; the lineage is then the timeline alone.
      if (h !== null && !('broken' in h)) d.histories.set(tli, h);
    }

    const ids = new Set<string>();
    for await (const o of this.repo.store.listAll(db.keys.backupsPrefix)) {
      const m = /^([^/]+)\/backup\.json$/.exec(o.key.slice(db.keys.backupsPrefix.length));
      if (m) ids.add(m[1]!);
    }
    for (const id of [...d.backups.keys()]) if (!ids.has(id)) d.backups.delete(id);
    for (const id of ids) {
      if (d.backups.has(id)) continue;
      let rec;
      try {
        rec = await db.backups.get(id);
      } catch (err) {
        if (isPitrdError(err, 'OBJECT_NOT_FOUND')) continue;
        throw err;
      }
      if (!rec) continue;
      if (rec.status === 'completed') {
        d.backups.set(id, rec.start_lsn === null || rec.timeline === null ? 'none' : { id, timeline: rec.timeline, startSegno: segnoOf(parseLsn(rec.start_lsn), segSize) });
      } else if (rec.status === 'failed' || rec.status === 'interrupted') d.backups.set(id, 'none');
      // pending / running: looked at again next time.
    }
    const backups = [...d.backups.values()].filter((b): b is Exclude<BackupStart, 'none'> => b !== 'none');
    const { gap, missingSegments } = summarizeGaps(findContinuityGaps({ segSize, archived, histories: d.histories, backups }), segSize);
    d.last = { gap, missingSegments, checkedAt };
    return d.last;
  }
}
