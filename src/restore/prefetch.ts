import { chownSync, existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DatabaseRepository, StoredWalSegment } from '../repository/index.js';
import { parseSegmentName } from '../wal/index.js';
import { fetchWalFile } from './wal-fetch.js';

export interface PrefetcherOptions {
  db: DatabaseRepository;
  stageDir: string;
  /** Segments to fetch ahead, in replay order (see replayOrder). */
  segments: readonly StoredWalSegment[];
  /** How many fetched-but-not-yet-consumed segments to keep staged. */
  depth?: number;
  owner?: { uid: number; gid: number };
  pollMs?: number;
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

/**
 * Keeps the next `depth` segments downloaded (decoded, checksum-verified) in the staging dir,
 * so the restore_command PostgreSQL runs is a file move. The restore_command consumes a file by
 * moving it away; the staged count drops and the next one is fetched. A file not staged (a
 * history file, a segment beyond the listing) is asked for with a `.want.<file>` request, which
 * is answered with the file, `.missing.<file>` or `.error.<file>`: PostgreSQL's user never needs
 * repository credentials or read access to the repository.
 */
export class Prefetcher {
  private stopped = false;
  private loop: Promise<void> | null = null;
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
    const depth = this.opts.depth ?? 8;
    const poll = this.opts.pollMs ?? 20;
    const segs = this.opts.segments;
    let next = 0;
    while (!this.stopped) {
      const entries = readdirSync(this.opts.stageDir);
      const wants = entries.filter((f) => f.startsWith(WANT)).map((f) => f.slice(WANT.length));
      for (const w of wants) await this.answer(w);
      const staged = entries.filter((f) => !f.startsWith('.')).length;
      if (wants.length === 0 && (next >= segs.length || staged >= depth)) {
        await new Promise((r) => setTimeout(r, poll));
        continue;
      }
      if (next < segs.length && staged < depth) {
        const s = segs[next++]!;
        const dest = join(this.opts.stageDir, s.name);
        if (existsSync(dest)) continue;
        try {
          if ((await fetchWalFile(this.opts.db, s.name, dest, this.opts.owner)) === 'fetched') this.fetched++;
        } catch (err) {
          // Asked for later, the same failure is answered as .error and reaches PostgreSQL's log.
          this.lastError = err;
        }
      }
    }
  }

  private async answer(file: string): Promise<void> {
    const dir = this.opts.stageDir;
    rmSync(join(dir, WANT + file), { force: true });
    if (!/^[0-9A-F]{8}(\.history|[0-9A-F]{16})$/.test(file)) return this.reply(MISSING + file, '');
    try {
      const outcome = await fetchWalFile(this.opts.db, file, join(dir, file), this.opts.owner);
      if (outcome === 'missing') this.reply(MISSING + file, '');
      else this.fetched++;
    } catch (err) {
      this.lastError = err;
      this.reply(FAILED + file, `pitrd: fetching ${file} failed: ${err instanceof Error ? err.message : String(err)}\n`);
    }
  }

  private reply(name: string, body: string): void {
    const p = join(this.opts.stageDir, name);
    writeFileSync(p, body);
    if (this.opts.owner) chownSync(p, this.opts.owner.uid, this.opts.owner.gid);
  }
}

/**
 * The restore_command script: move the staged file into place, or ask the prefetcher and wait
 * for its answer. Exit 1 = not in the archive (PostgreSQL's probe for a history file or the end
 * of the archive). Every success is logged to `appliedLog` (wal_files_applied).
 */
export function restoreCommandScript(stageDir: string, appliedLog: string): string {
  return `#!/bin/sh
S='${stageDir}'
f="$1"; p="$2"
if [ ! -f "$S/$f" ]; then
  : > "$S/${WANT}$f"
  while [ ! -f "$S/$f" ]; do
    if [ -f "$S/${MISSING}$f" ]; then rm -f "$S/${MISSING}$f"; exit 1; fi
    if [ -f "$S/${FAILED}$f" ]; then cat "$S/${FAILED}$f" >&2; rm -f "$S/${FAILED}$f"; exit 2; fi
    sleep 0.02
  done
fi
mv "$S/$f" "$p" || exit 2
echo "$f" >> '${appliedLog}'
`;
}
