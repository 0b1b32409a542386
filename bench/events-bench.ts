/**
 * Event-index query benchmark (not a test). Run:
 *   npx tsx bench/events-bench.ts
 * Options: BENCH_SEGMENTS (default 10000), BENCH_EVENTS_PER_SEGMENT (default 3), BENCH_RUNS (default 21).
 *
 * A synthetic index of BENCH_SEGMENTS segments' events (a mix of every kind), written through the
 * real repository code (EventIndexStore.putSegment, RelationMapStore.put) into an fs repository
 * under a temp directory, plus 5 relation maps of 2,000 relations; queryEvents (what
 * GET …/pitr/events and pitrd events run) is timed BENCH_RUNS times, unfiltered and filtered by
 * kind + relation, and the medians are printed. Target: <= 100 ms. No reference tool has an
 * event index, so the figure is absolute.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { queryEvents } from '../src/catalog/index.js';
import { openRepository } from '../src/repository/index.js';
import { createObjectStore } from '../src/storage/index.js';
import { eventToJson, formatLsn, INDEX_EVENT_KINDS, segmentName, type IndexEvent } from '../src/wal/index.js';

const N = Number(process.env.BENCH_SEGMENTS ?? 10_000);
const PER = Number(process.env.BENCH_EVENTS_PER_SEGMENT ?? 3);
const RUNS = Number(process.env.BENCH_RUNS ?? 21);
const SEG = 16 * 1024 * 1024;
const t0 = Date.parse('2026-01-01T00:00:00Z');

const dir = mkdtempSync(join(tmpdir(), 'pitrd-events-bench-'));
try {
  const store = createObjectStore({ type: 'fs', path: dir });
  const repo = await openRepository(store, { compression: 'none' });
  const db = repo.database({ project: 'default', name: 'bench' });
  const rels = 2000;
  for (let m = 0; m < 5; m++) {
    await db.relationMaps.put({
      lsn: formatLsn(BigInt(Math.floor((N * m) / 5)) * BigInt(SEG)),
      taken_at: new Date().toISOString(),
      reason: 'base_backup',
      databases: [{ oid: 5, name: 'app', relations: Array.from({ length: rels }, (_, i) => [16384 + i, `public.t${i}_${m}`, 'r'] as [number, string, string]) }],
    });
  }
  const w0 = performance.now();
  for (let s = 1; s <= N; s++) {
    const events: IndexEvent[] = [];
    for (let k = 0; k < PER; k++) {
      const kind = INDEX_EVENT_KINDS[(s * PER + k) % INDEX_EVENT_KINDS.length]!;
      const lsn = BigInt(s) * BigInt(SEG) + BigInt(1000 * (k + 1));
      const rel = `5/${16384 + ((s * 7 + k) % rels)}`;
      events.push({
        kind, lsn, time: new Date(t0 + s * 60_000 + k * 1000).toISOString().replace('Z', '000Z'), xid: kind === 'restore_point' ? null : 1000 + s * PER + k,
        db: 5, rels: kind === 'restore_point' || kind === 'drop_database' ? [] : [rel], rows: kind === 'delete' || kind === 'update' ? 5000 : null, name: kind === 'restore_point' ? `rp${s}` : null,
      });
    }
    await db.events.putSegment(1, segmentName(1, BigInt(s), SEG), BigInt(s), events.map(eventToJson));
  }
  console.log(`wrote ${N} segments x ${PER} events in ${((performance.now() - w0) / 1000).toFixed(1)} s`);
  const median = async (q: Parameters<typeof queryEvents>[1]) => {
    await queryEvents(db, q);
    const times: number[] = [];
    let n = 0;
    for (let i = 0; i < RUNS; i++) {
      const a = performance.now();
      n = (await queryEvents(db, q)).length;
      times.push(performance.now() - a);
    }
    times.sort((x, y) => x - y);
    return { ms: times[Math.floor(times.length / 2)]!, n };
  };
  const all = await median({ minRows: 1000 });
  const filtered = await median({ minRows: 1000, kinds: ['drop'], relation: 'public.t42_0' });
  console.log(`queryEvents over ${N} segments (${N * PER} events): unfiltered median ${all.ms.toFixed(1)} ms (${all.n} events), kind+relation median ${filtered.ms.toFixed(1)} ms (${filtered.n} events); target <= 100 ms`);
  await store.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
