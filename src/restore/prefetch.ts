import { chownSync, existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DatabaseRepository, StoredWalSegment } from '../repository/index.js';
import { parseSegmentName } from '../wal/index.js';
import { fetchListedSegment, fetchWalFile } from './wal-fetch.js';

export interface PrefetcherOptions {
  db: DatabaseRepository;
  stageDir: string;
  /** Segments to fetch ahead, in replay order (see replayOrder). */
  segments: readonly StoredWalSegment[];
  /** How many fetched-but-not-yet-consumed segments to keep staged (in flight included). */
  depth?: number;
  /** Segments downloaded at the same time (default 2). */
  concurrency?: number;
  owner?: { uid: number; gid: number };
  pollMs?: number;
  /**
   * Asked for a file the repository does not have: may stage it at `dest` from elsewhere (the
   * receiver's spool, for `latest`) and return true, or return false (answered as missing).
   */
  fallback?: (file: string, dest: string) => boolean | Promise<boolean>;
}

/**
 * Pure: the segments PostgreSQL will ask for from `startSegno` on, one per segment number,
 * from the newest timeline of the lineage that has it (PostgreSQL also tries the newest first).
 */
export function replayOrder(all: readonly StoredWalSegment[], timelines: ReadonlySet<number>, startSegno: bigint, segSize: number): StoredWalSegment[] {
  const best = new Map<bigint, StoredWalSegment>();
  for (const s of all) {
    if (!timelines.has(s.timeline)) continue;
    const { segno } = parseSegmentName(s.name, segSize);
    if (segno < startSegno) continue;
    const cur = best.get(segno);
    if (!cur || s.timeline > cur.timeline) best.set(segno, s);
  }
  return [...best.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([, s]) => s);
}

/** Request/answer file names in the staging dir (dot files: never mistaken for WAL). */
export const WANT = '.want.';
export const MISSING = '.missing.';
export const FAILED = '.error.';
/** Answer: the requested file is staged now (fetched for the request, or by the prefetch). */
export const READY = '.ready.';

/**
 * Keeps the next `depth` segments downloaded (decoded, checksum-verified) in the staging dir,
 * so the restore_command PostgreSQL runs is a file move. The restore_command consumes a file by
 * moving it away; the staged count drops and the next one is fetched. A file not staged (a
 * history file, a segment beyond the listing) is asked for with a `.want.<file>` request, which
 * is answered with `.ready.<file>` (the file staged), `.missing.<file>` or `.error.<file>`:
 * PostgreSQL's user never needs repository credentials or read access to the repository.
 * Downloads run `concurrency` at a time and start before the base backup is extracted.
 */
export class Prefetcher {
  private stopped = false;
  private loop: Promise<void> | null = null;
  /** Downloads under way, by file name (prefetches and answers): a request for one waits for it. */
  private readonly inFlight = new Map<string, Promise<void>>();
  /** Requests being answered. */
  private readonly answering = new Set<Promise<void>>();
  /** Index in `segments` of the next segment to prefetch. */
  private next = 0;
  fetched = 0;
  lastError: unknown = null;

  constructor(private readonly opts: PrefetcherOptions) {}

  start(): void {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  private async run(): Promise<void> {
    const depth = Math.max(1, this.opts.depth ?? 8);
    const concurrency = Math.max(1, Math.min(this.opts.concurrency ?? 2, depth));
    const poll = this.opts.pollMs ?? 10;
    const segs = this.opts.segments;
    while (!this.stopped) {
      const entries = readdirSync(this.opts.stageDir);
      for (const f of entries) {
        if (!f.startsWith(WANT)) continue;
        // Answered beside the prefetch: a request must not wait behind the queue.
        const a = this.answer(f.slice(WANT.length)).finally(() => this.answering.delete(a));
        this.answering.add(a);
      }
      // Staged files not yet moved away by restore_command, plus downloads under way (their
      // temp files are dot files, not counted here).
      let busy = entries.filter((f) => !f.startsWith('.')).length + this.inFlight.size;
      while (this.next < segs.length && busy < depth && this.inFlight.size < concurrency) {
        const s = segs[this.next++]!;
        if (existsSync(join(this.opts.stageDir, s.name)) || this.inFlight.has(s.name)) continue;
        this.track(s.name, this.prefetchOne(s));
        busy++;
      }
      // Wake up when a download ends (room for the next) or after a short poll (a consumed file,
      // a new request); never spin.
      await Promise.race([new Promise((r) => setTimeout(r, poll)), ...this.inFlight.values()]);
    }
    await Promise.allSettled([...this.inFlight.values(), ...this.answering]);
  }

  private track(name: string, p: Promise<void>): Promise<void> {
    const done = p.finally(() => this.inFlight.delete(name));
    this.inFlight.set(name, done);
    return done;
  }

  private async prefetchOne(s: StoredWalSegment): Promise<void> {
    try {
      await fetchListedSegment(this.opts.db, s, join(this.opts.stageDir, s.name), this.opts.owner);
      this.fetched++;
    } catch (err) {
      // Asked for later, the same failure is answered as .error and reaches PostgreSQL's log.
      this.lastError = err;
    }
  }

  private async answer(file: string): Promise<void> {
    const dir = this.opts.stageDir;
    rmSync(join(dir, WANT + file), { force: true });
    if (!/^[0-9A-F]{8}(\.history|[0-9A-F]{16})$/.test(file)) return this.reply(MISSING + file, '');
    // PostgreSQL asked for this one: the prefetch goes on after it (never stages it a second time).
    const at = this.opts.segments.findIndex((s) => s.name === file);
    if (at >= this.next) this.next = at + 1;
    // Being downloaded right now: a second download would race it into place.
    await this.inFlight.get(file);
    // Staged (the requester does not take it before this answer, so it cannot vanish meanwhile).
    if (existsSync(join(dir, file))) return this.reply(READY + file, '');
    await this.track(
      file,
      (async () => {
        try {
          let outcome = await fetchWalFile(this.opts.db, file, join(dir, file), this.opts.owner);
          if (outcome === 'missing' && this.opts.fallback && (await this.opts.fallback(file, join(dir, file)))) outcome = 'fetched';
          if (outcome === 'missing') this.reply(MISSING + file, '');
          else {
            this.fetched++;
            this.reply(READY + file, '');
          }
        } catch (err) {
          this.lastError = err;
          this.reply(FAILED + file, `pitrd: fetching ${file} failed: ${err instanceof Error ? err.message : String(err)}\n`);
        }
      })(),
    );
  }

  private reply(name: string, body: string): void {
    const p = join(this.opts.stageDir, name);
    try {
      writeFileSync(p, body);
      if (this.opts.owner) chownSync(p, this.opts.owner.uid, this.opts.owner.gid);
    } catch (err) {
      // The staging dir is gone: the restore is over and nobody waits for this answer.
      this.lastError = err;
    }
  }
}

/**
 * The restore_command script: move the staged file into place, or ask the prefetcher and wait
 * for its answer (never for the file alone: a file staged by the prefetch while the request is
 * on its way must not be taken while the answer may still fetch it again). Exit 1 = not in the
 * archive (PostgreSQL's probe for a history file or the end of the archive). A file that is in
 * the archive but cannot be handed over (storage error after the store's retries, a corrupt
 * object, no room to move it) exits 126: PostgreSQL reads any exit status above 125 as a shell
 * error and aborts recovery (FATAL), where a lower one would read as "not in the archive" and end
 * recovery early — a `latest` restore would then promote short of the archive and report success.
 * A pitrd restore is archive recovery, never a standby, so there is no later retry to wait for.
 * Every success is logged to `appliedLog` (wal_files_applied).
 */
export function restoreCommandScript(stageDir: string, appliedLog: string): string {
  return `#!/bin/sh
S='${stageDir}'
f="$1"; p="$2"
if [ ! -f "$S/$f" ]; then
  : > "$S/${WANT}$f"
  while [ ! -f "$S/${READY}$f" ]; do
    if [ -f "$S/${MISSING}$f" ]; then rm -f "$S/${MISSING}$f"; exit 1; fi
    if [ -f "$S/${FAILED}$f" ]; then cat "$S/${FAILED}$f" >&2; rm -f "$S/${FAILED}$f"; exit 126; fi
    sleep 0.02
  done
  rm -f "$S/${READY}$f"
fi
mv "$S/$f" "$p" || exit 126
echo "$f" >> '${appliedLog}'
`;
}
