/**
 * Recovery-window benchmark (not a test). Run:
 *   npx tsx bench/wal-window-bench.ts
 * Options: BENCH_SEGMENTS (default 10000), BENCH_RUNS (default 51).
 *
 * An archive of BENCH_SEGMENTS synthetic segment summaries (16 MiB segments) across two
 * timelines with a switch, a few gaps and 20 base backups; computeRecoveryWindows is timed
 * BENCH_RUNS times after a warm-up and the median is printed. Target: <= 50 ms.
 */
import { performance } from 'node:perf_hooks';
import { computeRecoveryWindows, formatLsn, parseTimelineHistory, type WindowBackup, type WindowSegment } from '../src/wal/index.js';

const SEG = 16 * 1024 * 1024;
const S = BigInt(SEG);
const N = Number(process.env.BENCH_SEGMENTS ?? 10_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 51);
const t0 = Date.parse('2026-01-01T00:00:00Z');
const iso = (segno: number, s: number) => new Date(t0 + segno * 60_000 + s * 1000).toISOString().replace('Z', '000Z');

const switchSeg = Math.floor(N * 0.8);
const segments: WindowSegment[] = [];
for (let i = 1; i <= N; i++) {
  if (i % 2500 === 0) continue; // a few gaps
  const tli = i >= switchSeg ? 2 : 1;
  const base = BigInt(i) * S;
  segments.push({ timeline: tli, segno: BigInt(i), endLsn: base + S, firstCommitTime: iso(i, 1), lastCommitTime: iso(i, 50), lastCommitLsn: base + S - 64n });
}
// Timeline 1 also went on after the fork (a divergent future that timeline 2 must not use).
for (let i = switchSeg; i < switchSeg + 50; i++) {
  segments.push({ timeline: 1, segno: BigInt(i), endLsn: BigInt(i + 1) * S, firstCommitTime: iso(i, 1), lastCommitTime: iso(i, 50), lastCommitLsn: BigInt(i + 1) * S - 64n });
}
const histories = new Map([[2, parseTimelineHistory(2, `1\t${formatLsn(BigInt(switchSeg) * S + 8192n)}\tbench\n`)]]);
const backups: WindowBackup[] = Array.from({ length: 20 }, (_, k) => {
  const s = 10 + k * Math.floor(N / 20);
  return { id: `b${k}`, timeline: s >= switchSeg ? 2 : 1, start_lsn: BigInt(s) * S + 40n, stop_lsn: BigInt(s + 1) * S + 40n, stop_time: iso(s + 1, 2), status: 'completed' };
});

const input = { segSize: SEG, segments, histories, backups };
for (let i = 0; i < 5; i++) computeRecoveryWindows(input);
const times: number[] = [];
let result = computeRecoveryWindows(input);
for (let i = 0; i < RUNS; i++) {
  const a = performance.now();
  result = computeRecoveryWindows(input);
  times.push(performance.now() - a);
}
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)]!;
for (const w of result) {
  console.log(`timeline ${w.timeline}: ${w.status} backup=${w.backupId} from=${w.from} to=${w.to} last=${w.lastSegment} gaps=${w.gaps.length}`);
}
console.log(`segments=${segments.length} runs=${RUNS} median=${median.toFixed(2)} ms min=${times[0]!.toFixed(2)} ms max=${times[times.length - 1]!.toFixed(2)} ms (target <= 50 ms)`);
if (median > 50) process.exitCode = 1;
