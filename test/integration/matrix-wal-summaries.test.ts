/**
 * WAL summaries against the server's own view, PostgreSQL 13 to 18 (one source per major, majors
 * in turn). A workload of commits, aborts, subtransactions, two-phase commits and aborts that
 * drop and create relations (the records' variable parts: relations, dropped statistics,
 * invalidations, the two-phase xid) and restore points runs between two WAL switches while the
 * real receiver archives; pitrd's catalog summarises the archived segments. Then:
 * - on 15+, every commit/abort record (LSN, xid, time), restore point (LSN, name) and checkpoint
 *   (LSN, redo, timeline) pitrd decodes equals what pg_walinspect's pg_get_wal_records_info(start, end) reports over the same
 *   range, and each stored summary (counts, first/last commit time, last commit LSN, xid range,
 *   restore points) equals the same figures computed from pg_walinspect's rows;
 * - on every major (13 and 14 have no pg_walinspect: this is their reference), the transactions
 *   are exactly those the test ran, with the xids txid_current() gave and, for commits, the
 *   commit times pg_xact_commit_timestamp() reports (track_commit_timestamp), and the restore
 *   points carry the names the test gave at times between the statement's start and end.
 * No autovacuum, so no transaction but the test's has an xid.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { summarizeDatabase } from '../../src/catalog/index.js';
import { loadSummaries } from '../../src/catalog/load.js';
import { formatLsn, isoToTimestampTz, parseLsn, timestampTzToIso, type SegmentSummary, type WalEvent } from '../../src/wal/index.js';
import { TEST_MAJORS } from '../harness/index.js';
import { startArchiveFixture, type ArchiveFixture } from '../harness/archive-fixture.js';
import { waitFor } from '../harness/receiver.js';
import { parseRun, xactsOf, type FoundXact } from './wal-waldump.js';

const SEG = 1024 * 1024;
/** 2000-01-01 (PostgreSQL's epoch) in Unix µs. */
const PG_EPOCH_UNIX_US = 946_684_800_000_000n;

/** A transaction the test ran, as it knows it. */
interface RanXact {
  kind: 'commit' | 'abort';
  xid: number;
}

/** pg_walinspect's commit time ("2026-12-04 09:00:01.5+00", session time zone UTC) → ISO with six fractional digits. */
function descTimeToIso(desc: string): { twophaseXid: number | null; time: string } {
  const m = /^(?:(\d+): )?(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(?:\.(\d+))?(?:\+00| UTC)/.exec(desc);
  if (!m) throw new Error(`unexpected transaction description "${desc}"`);
  return { twophaseXid: m[1] ? Number(m[1]) : null, time: `${m[2]}T${m[3]}.${(m[4] ?? '').padEnd(6, '0')}Z` };
}

/** The summary figures of one segment, computed from a list of decoded records in LSN order. */
function figures(xacts: FoundXact[], rps: Array<{ lsn: string; name: string }>) {
  const commits = xacts.filter((x) => x.kind === 'commit');
  const xids = xacts.map((x) => x.xid).filter((x) => x !== 0);
  return {
    commits: commits.length,
    aborts: xacts.length - commits.length,
    firstCommitTime: commits[0]?.time ?? null,
    lastCommitTime: commits[commits.length - 1]?.time ?? null,
    lastCommitLsn: commits[commits.length - 1]?.lsn ?? null,
    minXid: xids.length ? Math.min(...xids) : null,
    maxXid: xids.length ? Math.max(...xids) : null,
    restorePoints: rps.map((r) => r.name),
  };
}

const figuresOfSummary = (s: SegmentSummary) => ({
  commits: s.commits,
  aborts: s.aborts,
  firstCommitTime: s.firstCommitTime,
  lastCommitTime: s.lastCommitTime,
  lastCommitLsn: s.lastCommitLsn === null ? null : formatLsn(s.lastCommitLsn),
  minXid: s.minXid,
  maxXid: s.maxXid,
  restorePoints: s.restorePoints.map((r) => r.name),
});

/** Segment number holding the last byte of a record that ends at `endLsn` (a record belongs to the segment where it is complete). */
const segOfEnd = (endLsn: string) => (parseLsn(endLsn) - 1n) / BigInt(SEG);

describe.each(TEST_MAJORS)('PostgreSQL %i', (major) => {
  let fx: ArchiveFixture;
  let startLsn = '';
  let endLsn = '';
  const ran: RanXact[] = [];
  /** Restore points the test created, with the Unix µs just before and after. */
  const points: Array<{ name: string; from: bigint; to: bigint }> = [];
  let names: string[] = [];
  let ours: { events: WalEvent[] };
  const summaries: SegmentSummary[] = [];

  beforeAll(async () => {
    fx = await startArchiveFixture({
      tag: `sum${major}`, major, compression: 'none',
      settings: { wal_keep_size: "'512MB'", max_prepared_transactions: 5, track_commit_timestamp: 'on', autovacuum: 'off' },
    });
    const src = fx.source;
    if (major >= 15) await src.query('CREATE EXTENSION pg_walinspect');
    await src.query('CREATE TABLE t (id int, v text)');
    for (const n of ['d1', 'd2', 'd3', 'd4', 'd5']) await src.query(`CREATE TABLE ${n} (id int)`);
    const [{ first }] = (await src.query<{ first: string }>('SELECT pg_switch_wal()::text AS first')) as [{ first: string }];
    // The range starts at the next segment's beginning: pg_walinspect finds its first record from there.
    startLsn = formatLsn(((parseLsn(first) + BigInt(SEG) - 1n) / BigInt(SEG)) * BigInt(SEG));

    const c = new pg.Client({ ...src.connection });
    await c.connect();
    try {
      /** Run `body` in a transaction block; `end` finishes it; records the xid and the outcome. */
      const xact = async (kind: 'commit' | 'abort', body: string[], end?: string[]) => {
        await c.query('BEGIN');
        for (const q of body) await c.query(q);
        const xid = Number((await c.query<{ x: string }>('SELECT txid_current()::text AS x')).rows[0]!.x);
        for (const q of end ?? [kind === 'commit' ? 'COMMIT' : 'ROLLBACK']) await c.query(q);
        ran.push({ kind, xid });
      };
      const now = async () => BigInt((await c.query<{ us: string }>(`SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint::text AS us`)).rows[0]!.us);
      const point = async (name: string) => {
        const from = await now();
        await c.query('SELECT pg_create_restore_point($1)', [name]);
        points.push({ name, from, to: await now() });
      };
      await xact('commit', ["INSERT INTO t VALUES (1, 'plain')"]);
      await xact('abort', ["INSERT INTO t VALUES (2, 'aborted')"]);
      await xact('commit', ["INSERT INTO t VALUES (3, 'a')", 'SAVEPOINT s1', "INSERT INTO t VALUES (4, 'b')", 'RELEASE s1', 'SAVEPOINT s2', "INSERT INTO t VALUES (5, 'c')"]);
      await point('matrix point one');
      // Relations dropped at commit (and their statistics, 15+), invalidation messages.
      await xact('commit', ['DROP TABLE d1']);
      // Created, then dropped again by the abort.
      await xact('abort', ['CREATE TABLE gone (id int)', "INSERT INTO gone VALUES (1)"]);
      // Two-phase: the record carries the prepared xid after the relations and statistics items.
      await xact('commit', ['DROP TABLE d2, d3'], ["PREPARE TRANSACTION 'p-commit'", "COMMIT PREPARED 'p-commit'"]);
      await xact('abort', ['CREATE TABLE gone2 (id int)', 'DROP TABLE d4'], ["PREPARE TRANSACTION 'p-abort'", "ROLLBACK PREPARED 'p-abort'"]);
      await xact('commit', Array.from({ length: 40 }, (_, i) => [`SAVEPOINT sp${i}`, `INSERT INTO t VALUES (${100 + i}, 'sub')`]).flat());
      // > 8 KB of WAL in one record before the next commit (a record crossing pages).
      // (A transactional message has an xid and a commit of its own.)
      await xact('commit', ["SELECT pg_logical_emit_message(true, 'pitrd', repeat('x', 20000))"]);
      await xact('commit', ['DROP TABLE d5', "INSERT INTO t VALUES (6, 'after drop')"]);
      await point('matrix point two');
      await c.query('CHECKPOINT');
      await xact('commit', ["INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 20000) g"]);
      await xact('abort', ["INSERT INTO t VALUES (7, 'last abort')"]);
      await xact('commit', ["INSERT INTO t VALUES (8, 'last')"]);
    } finally {
      await c.end();
    }
    // Segment switch through the fixture: waits until the last segment of the range is archived.
    const last = await fx.currentSegment();
    const switched = (await src.query<{ l: string }>('SELECT pg_switch_wal()::text AS l'))[0]!.l;
    // pg_walinspect lists a record only when it ends by end_lsn, and a switch record ends where
    // the segment does (which the switch has flushed).
    endLsn = formatLsn(((parseLsn(switched) + BigInt(SEG) - 1n) / BigInt(SEG)) * BigInt(SEG));
    await waitFor(`segment ${last} archived`, () => fx.db.wal.hasSegment(1, last), 60_000);

    const all: string[] = [];
    for await (const s of fx.db.wal.listSegments(1)) all.push(s.name);
    const firstSeg = parseLsn(startLsn) / BigInt(SEG);
    names = all.filter((n) => BigInt('0x' + n.slice(16)) >= firstSeg && n <= last).sort();
    const bytes = new Map<string, Buffer>();
    for (const n of names) bytes.set(n, await fx.db.wal.getSegment(1, n));
    ours = parseRun(names, bytes);

    const result = await summarizeDatabase(fx.db);
    expect(result.failed).toEqual([]);
    const { summaries: stored } = await loadSummaries(fx.db, 1);
    for (const n of names) {
      const s = [...stored.values()].find((x) => x.name === n);
      expect(s, `summary of ${n}`).toBeDefined();
      summaries.push(s!);
    }
  }, 180_000);

  afterAll(async () => {
    await fx?.destroy();
  });

  it('decodes exactly the transactions the test ran, with their xids and commit times', async () => {
    expect(names.length).toBeGreaterThanOrEqual(2);
    const xacts = xactsOf(ours.events);
    expect(xacts.map((x) => ({ kind: x.kind, xid: x.xid }))).toEqual(ran);
    const commitXids = ran.filter((r) => r.kind === 'commit').map((r) => r.xid);
    const times = await fx.source.query<{ xid: string; us: string }>(
      `SELECT x::text AS xid, (extract(epoch FROM pg_xact_commit_timestamp(x::text::xid)) * 1000000)::bigint::text AS us FROM unnest($1::bigint[]) x`,
      [commitXids],
    );
    expect(xacts.filter((x) => x.kind === 'commit').map((x) => x.time)).toEqual(times.map((t) => timestampTzToIso(BigInt(t.us) - PG_EPOCH_UNIX_US)));
    const rps = ours.events.filter((e): e is Extract<WalEvent, { kind: 'restore_point' }> => e.kind === 'restore_point');
    expect(rps.map((r) => r.name)).toEqual(points.map((p) => p.name));
    for (const [i, r] of rps.entries()) {
      const t = isoToTimestampTz(r.time) + PG_EPOCH_UNIX_US;
      expect(t >= points[i]!.from && t <= points[i]!.to, `restore point ${r.name} at ${r.time}`).toBe(true);
    }
    // The summaries add up to the same transactions and restore points.
    expect(summaries.reduce((n, s) => n + s.commits, 0)).toBe(commitXids.length);
    expect(summaries.reduce((n, s) => n + s.aborts, 0)).toBe(ran.length - commitXids.length);
    expect(summaries.flatMap((s) => s.restorePoints.map((r) => r.name))).toEqual(points.map((p) => p.name));
    expect(summaries[summaries.length - 1]!.switched).toBe(true);
  });

  // pg_walinspect exists from 15; 13 and 14 have the test's own record above as their reference.
  if (major < 15) return;

  it('records and summaries equal pg_walinspect’s view of the same WAL', async () => {
    const rows = await fx.source.query<{ start_lsn: string; end_lsn: string; xid: string; rmgr: string; type: string; description: string }>(
      `SELECT start_lsn::text, end_lsn::text, xid::text, resource_manager AS rmgr, record_type AS type, description
         FROM pg_get_wal_records_info($1::pg_lsn, $2::pg_lsn) ORDER BY start_lsn`,
      [startLsn, endLsn],
    );
    const server: Array<FoundXact & { end: string }> = [];
    const checkpoints: Array<{ lsn: string; redo: string; timeline: number; shutdown: boolean }> = [];
    const serverPoints: Array<{ lsn: string; end: string; name: string }> = [];
    for (const r of rows) {
      const lsn = formatLsn(parseLsn(r.start_lsn));
      if (r.rmgr === 'Transaction' && /^(COMMIT|ABORT|COMMIT_PREPARED|ABORT_PREPARED)$/.test(r.type)) {
        const { twophaseXid, time } = descTimeToIso(r.description);
        server.push({ kind: r.type.startsWith('COMMIT') ? 'commit' : 'abort', lsn, xid: twophaseXid ?? Number(r.xid), time, end: r.end_lsn });
      } else if (r.rmgr === 'XLOG' && /^CHECKPOINT_(ONLINE|SHUTDOWN)$/.test(r.type)) {
        const m = /redo ([0-9A-F]+\/[0-9A-F]+); tli (\d+);/.exec(r.description);
        if (!m) throw new Error(`unexpected checkpoint description "${r.description}"`);
        checkpoints.push({ lsn, redo: formatLsn(parseLsn(m[1]!)), timeline: Number(m[2]), shutdown: r.type === 'CHECKPOINT_SHUTDOWN' });
      } else if (r.rmgr === 'XLOG' && r.type === 'RESTORE_POINT') {
        serverPoints.push({ lsn, end: r.end_lsn, name: r.description });
      }
    }
    // Every record pg_walinspect lists, pitrd read (and no others).
    expect([...ours.events.map((e) => formatLsn(e.lsn))]).toEqual(rows.map((r) => formatLsn(parseLsn(r.start_lsn))));
    expect(xactsOf(ours.events)).toEqual(server.map(({ end: _end, ...x }) => x));
    const rps = ours.events.filter((e): e is Extract<WalEvent, { kind: 'restore_point' }> => e.kind === 'restore_point');
    expect(rps.map((r) => ({ lsn: formatLsn(r.lsn), name: r.name }))).toEqual(serverPoints.map(({ lsn, name }) => ({ lsn, name })));
    expect(checkpoints.length).toBeGreaterThanOrEqual(1);
    expect(summaries.flatMap((s) => s.checkpoints.map((c) => ({ lsn: formatLsn(c.lsn), redo: formatLsn(c.redo), timeline: c.timeline, shutdown: c.shutdown })))).toEqual(checkpoints);
    for (const s of summaries) {
      const inSeg = <T extends { end: string }>(xs: T[]) => xs.filter((x) => segOfEnd(x.end) === s.segno);
      expect(figuresOfSummary(s), `summary of ${s.name}`).toEqual(figures(inSeg(server), inSeg(serverPoints)));
    }
  });
});
