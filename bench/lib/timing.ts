/**
 * Per-invocation timing of a restore_command: a bash wrapper that reads $EPOCHREALTIME (a builtin,
 * no fork) before and after running the real command and appends one line per call. What it
 * measures is the real command from its fork/exec to its exit, i.e. what PostgreSQL waits for
 * beyond the `sh -c` it always starts. The same wrapper goes around every tool compared.
 */
import { chownSync, readFileSync, writeFileSync } from 'node:fs';
import { postgresUser } from '../../test/harness/index.js';

export const TIMER_SCRIPT = `#!/bin/bash
# usage: timer LOG COMMAND ARGS... (the last two arguments are %f %p)
log=$1; shift
s=$EPOCHREALTIME
"$@"
r=$?
e=$EPOCHREALTIME
echo "$s $e $r \${@: -2:1}" >> "$log"
exit $r
`;

export function writeTimer(path: string): void {
  writeFileSync(path, TIMER_SCRIPT, { mode: 0o755 });
}

/** An empty log the postgres OS user can append to. */
export function makeTimingLog(path: string): void {
  writeFileSync(path, '', { mode: 0o644 });
  const u = postgresUser();
  if (u) chownSync(path, u.uid, u.gid);
}

export interface Invocation {
  /** Unix time in seconds (µs precision). */
  start: number;
  end: number;
  exitCode: number;
  file: string;
}

export function readTimingLog(path: string): Invocation[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [s, e, r, f] = l.split(' ');
      return { start: Number(s), end: Number(e), exitCode: Number(r), file: f ?? '' };
    });
}

/** Successful restores of WAL segments (not history files, not "not in the archive" probes). */
export function segmentFetches(inv: readonly Invocation[]): Invocation[] {
  return inv.filter((i) => i.exitCode === 0 && /^[0-9A-F]{24}$/.test(i.file));
}

export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

export const median = (v: readonly number[]) => quantile(v, 0.5);
