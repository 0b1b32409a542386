/**
 * Property: for random archives (gaps, a second timeline, backups anywhere, some not restorable),
 * the recovery window the API reports (recoveryWindowViews, what GET …/pitr/recovery-window
 * serves) and the targets the restore plan accepts (admitTarget, what planRestore runs) agree at
 * every probed instant and LSN, edges included; and every accepted target is one PostgreSQL can
 * reach from the chosen backup (a later commit for a time target, a record at or after an LSN
 * target, else a translation to the last record). Seeded: a failure prints its seed.
 */
import { describe, expect, it } from 'vitest';
import { recoveryWindowViews, type RecoveryWindowView } from '../../src/catalog/window.js';
import { isPitrdError } from '../../src/errors.js';
import { admitTarget, formatLsn, micros, parseLsn, parseTimelineHistory, timestampTzToIso, type TimelineHistory, type WindowBackup, type WindowInput, type WindowSegment } from '../../src/wal/index.js';
import { prng } from '../harness/prng.js';

const SEG = 1024 * 1024;
const S = BigInt(SEG);
const RUNS = Number(process.env.PITRD_WINDOW_RUNS ?? 100);
const SEED = Number(process.env.PITRD_WINDOW_SEED ?? Date.now() % 2 ** 31);


/** TimestampTz µs of the start of segment `segno`'s time slot (1 s per segment). */
const T0 = micros('2026-01-01T00:00:00Z');
const at = (us: bigint) => timestampTzToIso(us);
const slot = (segno: number, frac: number) => T0 + BigInt(segno) * 1_000_000n + BigInt(Math.floor(frac * 999_999));

function segment(rand: () => number, tli: number, segno: number): WindowSegment {
  const base = BigInt(segno) * S;
  const commits = rand() < 0.7;
  const f = rand() * 0.3;
  const l = f + rand() * 0.3;
  const points = rand() < 0.3 ? [{ name: rand() < 0.5 ? 'p' : `p${segno}`, time: at(slot(segno, 0.65 + rand() * 0.1)), lsn: base + 0x9000n }] : [];
  const cps = rand() < 0.3 ? [{ time: at((slot(segno, 0.8 + rand() * 0.19) / 1_000_000n) * 1_000_000n) }] : [];
  return {
    timeline: tli,
    segno: BigInt(segno),
    endLsn: base + S - (rand() < 0.2 ? 8n : 0n),
    firstCommitTime: commits ? at(slot(segno, f)) : null,
    lastCommitTime: commits ? at(slot(segno, l)) : null,
    lastCommitLsn: commits ? base + 0x8000n : null,
    lastRecordLsn: base + S - 64n,
    restorePoints: points,
    checkpoints: cps,
  };
}

function archive(rand: () => number): { input: WindowInput; timelines: number[] } {
  const n = 4 + Math.floor(rand() * 10);
  const segments: WindowSegment[] = [];
  const drop = () => rand() < 0.12;
  for (let s = 0; s < n; s++) if (!drop()) segments.push(segment(rand, 1, s));
  const histories = new Map<number, TimelineHistory>();
  const timelines = [1];
  if (rand() < 0.5) {
    const k = 1 + Math.floor(rand() * (n - 1));
    histories.set(2, parseTimelineHistory(2, `1\t${formatLsn(BigInt(k) * S + 0x500n)}\tno recovery target specified\n`));
    for (let s = k; s < n + 3; s++) if (!drop()) segments.push(segment(rand, 2, s));
    timelines.push(2);
  }
  const backups: WindowBackup[] = [];
  const nb = 1 + Math.floor(rand() * 3);
  for (let i = 0; i < nb; i++) {
    const tli = timelines[Math.floor(rand() * timelines.length)]!;
    const start = Math.floor(rand() * n);
    const stop = start + (rand() < 0.5 ? 0 : 1);
    backups.push({
      id: `b${i}`,
      timeline: tli,
      start_lsn: BigInt(start) * S + 0x28n,
      stop_lsn: BigInt(stop) * S + 0x100n,
      stop_time: at(slot(stop, 0.5)),
      status: rand() < 0.9 ? 'completed' : 'failed',
    });
  }
  return { input: { segSize: SEG, segments, histories, backups }, timelines };
}

const accepted = (fn: () => unknown): boolean => {
  try {
    fn();
    return true;
  } catch (e) {
    if (isPitrdError(e) && ['TARGET_TIME_INVALID', 'WAL_GAP', 'BACKUP_NOT_FOUND'].includes(e.code)) return false;
    throw e;
  }
};

function probesOf(view: RecoveryWindowView, input: WindowInput): { times: bigint[]; lsns: bigint[] } {
  const times: bigint[] = [];
  const lsns: bigint[] = [];
  for (const r of view.ranges) {
    for (const t of [micros(r.from), micros(r.to)]) times.push(t - 1n, t, t + 1n);
    for (const l of [parseLsn(r.from_lsn), parseLsn(r.to_lsn)]) lsns.push(l - 1n, l, l + 1n);
  }
  for (const s of input.segments) {
    for (const t of [s.firstCommitTime, s.lastCommitTime, ...(s.restorePoints ?? []).map((p) => p.time), ...(s.checkpoints ?? []).map((c) => c.time)]) if (t) times.push(micros(t), micros(t) + 1n);
    lsns.push(s.segno * S, s.endLsn, s.lastRecordLsn!, s.lastRecordLsn! + 1n);
  }
  for (const b of input.backups) {
    times.push(micros(b.stop_time));
    lsns.push(b.stop_lsn);
  }
  return { times, lsns };
}

describe('the recovery window and the restore plan agree', () => {
  it(`on ${RUNS} random archives, at every probed time and LSN (seed ${SEED})`, () => {
    const rand = prng(SEED);
    let checked = 0;
    let acceptedCount = 0;
    for (let run = 0; run < RUNS; run++) {
      const { input, timelines } = archive(rand);
      const views = recoveryWindowViews(input);
      for (const tli of timelines) {
        const view = views.find((v) => v.timeline === tli);
        if (!view) continue;
        const { times, lsns } = probesOf(view, input);
        for (const t of times) {
          const inWindow = view.ranges.some((r) => micros(r.from) <= t && t <= micros(r.to));
          for (const inclusive of [true, false]) {
            let adm: ReturnType<typeof admitTarget> | null = null;
            const ok = accepted(() => (adm = admitTarget(input, { timeline: tli, target: { kind: 'time', time: at(t) }, inclusive })));
            expect(ok, `seed ${SEED} run ${run} tli ${tli} time ${at(t)} window ${JSON.stringify(view.ranges)}`).toBe(inWindow);
            if (adm) {
              const a = adm as ReturnType<typeof admitTarget>;
              expect(micros(a.backup.stop_time) <= t).toBe(true);
              if (a.target.kind === 'time') expect(micros(a.reach.maxCommitTime!) >= t).toBe(true);
              else if (a.target.kind === 'lsn') expect(parseLsn(a.target.lsn)).toBe(a.reach.lastRecordLsn);
              acceptedCount++;
            }
            checked++;
          }
        }
        for (const l of lsns) {
          const inWindow = view.ranges.some((r) => parseLsn(r.from_lsn) <= l && l <= parseLsn(r.to_lsn));
          let adm: ReturnType<typeof admitTarget> | null = null;
          const ok = accepted(() => (adm = admitTarget(input, { timeline: tli, target: { kind: 'lsn', lsn: formatLsn(l) } })));
          expect(ok, `seed ${SEED} run ${run} tli ${tli} lsn ${formatLsn(l)} window ${JSON.stringify(view.ranges)}`).toBe(inWindow);
          if (adm) {
            const a = adm as ReturnType<typeof admitTarget>;
            expect(a.backup.stop_lsn <= l).toBe(true);
            // PostgreSQL stops only at a record starting at or after an LSN target.
            if (a.target.kind === 'lsn') expect(parseLsn(a.target.lsn) <= a.reach.lastRecordLsn).toBe(true);
            acceptedCount++;
          }
          checked++;
        }
        // from/to are the first stretch.
        if (view.status === 'ok') expect([view.from, view.to]).toEqual([view.ranges[0]!.from, view.ranges[0]!.to]);
      }
    }
    expect(checked).toBeGreaterThan(RUNS);
    expect(acceptedCount).toBeGreaterThan(0);
  });
});
