/**
 * Progress of long CLI work (backup, restore, verify), on stderr so stdout keeps only the result.
 *
 * - On a TTY (and without --json): phase lines, plus one live status line redrawn in place.
 * - Not a TTY: the phase lines only, one per line, so logs and pipes stay readable.
 * - With --json or --quiet: nothing at all; scripts get exactly one JSON document on stdout and a quiet stderr.
 */
import { isQuiet } from './context.js';

export interface Progress {
  /** A step worth its own line (also written without a TTY). */
  phase(text: string): void;
  /** The current state inside a step: redrawn in place on a TTY, dropped otherwise. */
  update(text: string): void;
  /** Clear the live line (call before printing the result, also on failure). */
  done(): void;
  /** Whether update() draws anything. */
  readonly live: boolean;
}

export interface ProgressOptions {
  json?: boolean;
  /** --quiet: no phase lines either (default: the global option). */
  quiet?: boolean;
  stream?: Pick<NodeJS.WriteStream, 'write'> & { isTTY?: boolean; columns?: number };
  /** Minimum time between two redraws of the live line. */
  minIntervalMs?: number;
  now?: () => number;
}

const CLEAR_LINE = '\r\x1b[2K';

export function createProgress(o: ProgressOptions = {}): Progress {
  const stream = o.stream ?? process.stderr;
  const quiet = o.json === true || (o.quiet ?? isQuiet());
  const live = !quiet && stream.isTTY === true;
  const every = o.minIntervalMs ?? 100;
  const now = o.now ?? Date.now;
  let shown = false;
  let lastDraw = -Infinity;
  const clear = () => {
    if (shown) stream.write(CLEAR_LINE);
    shown = false;
  };
  return {
    live,
    phase(text) {
      if (quiet) return;
      clear();
      stream.write(`${text}\n`);
      lastDraw = -Infinity;
    },
    update(text) {
      if (!live) return;
      const t = now();
      if (t - lastDraw < every) return;
      lastDraw = t;
      // One screen line: a wrapped status line could not be redrawn in place.
      const width = Math.max(20, (stream.columns || 80) - 1);
      stream.write(`${CLEAR_LINE}${text.length > width ? `${text.slice(0, width - 1)}…` : text}`);
      shown = true;
    },
    done() {
      clear();
    },
  };
}

/** 1536 → "1.5 KiB"; for progress lines, not for exact figures. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** "37%" of done/total, or "" without a usable total. Capped at 100: estimates run short. */
export function percent(done: number, total: number | null): string {
  if (total === null || total <= 0) return '';
  return `${Math.min(100, Math.floor((done / total) * 100))}%`;
}
