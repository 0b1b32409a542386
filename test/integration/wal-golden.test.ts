/**
 * Our WAL parser against the real pg_waldump, on segments a real PostgreSQL 15 wrote: commits,
 * aborts, two-phase commits, restore points, a record larger than a page and one crossing a
 * 1 MB segment boundary. Then bad input: truncated, foreign cluster, random bytes, bit flips.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PitrdError } from '../../src/errors.js';
import { formatLsn, readSegment, summaryFromJson, summaryToJson, type WalEvent } from '../../src/wal/index.js';
import { startPostgres, type PgCluster } from '../harness/index.js';
import { parseRun as parseRunOf, waldump, xactsOf, type WaldumpResult } from './wal-waldump.js';

const SEG = 1024 * 1024;

let main: PgCluster;
let other: PgCluster;
let names: string[] = [];
const bytes = new Map<string, Buffer>();
let golden: WaldumpResult;

const parseRun = () => parseRunOf(names, bytes);

beforeAll(async () => {
  main = await startPostgres({ walSegmentSizeMB: 1, settings: { max_prepared_transactions: 5, wal_keep_size: "'512MB'" } });
  // A fresh segment to start from, so the run begins at a record boundary we control.
  await main.query('CREATE TABLE t (id int, v text)');
  const [{ first }] = (await main.query<{ first: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS first')) as [{ first: string }];

  await main.exec('pgbench', ['-i', '-s', '1', '-h', '127.0.0.1', '-p', String(main.port), '-U', 'postgres', 'postgres']);
  await main.exec('pgbench', ['-t', '100', '-c', '2', '-h', '127.0.0.1', '-p', String(main.port), '-U', 'postgres', 'postgres']);
  await main.query("BEGIN; INSERT INTO t VALUES (1, 'two-phase'); PREPARE TRANSACTION 'gid-commit'");
  await main.query("BEGIN; INSERT INTO t VALUES (2, 'two-phase'); PREPARE TRANSACTION 'gid-rollback'");
  await main.query("COMMIT PREPARED 'gid-commit'");
  await main.query("ROLLBACK PREPARED 'gid-rollback'");
  await main.query("BEGIN; INSERT INTO t VALUES (3, 'aborted'); ROLLBACK");
  await main.query("BEGIN; INSERT INTO t VALUES (4, 'a'); SAVEPOINT s1; INSERT INTO t VALUES (5, 'b'); RELEASE s1; SAVEPOINT s2; INSERT INTO t VALUES (6, 'c'); COMMIT");
  await main.query("SELECT pg_create_restore_point('before big records')");
  // > 8 KB: a record that spans pages.
  await main.query("SELECT pg_logical_emit_message(true, 'pitrd', (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 1000) i))");
  await main.query("INSERT INTO t VALUES (7, 'after page-spanning record')");
  // ~1.6 MB: longer than a whole 1 MB segment, so it must cross a segment boundary.
  await main.query("SELECT pg_logical_emit_message(false, 'pitrd', (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 50000) i))");
  await main.query("INSERT INTO t VALUES (8, 'after segment-spanning record')");
  await main.query("SELECT pg_create_restore_point('x')");
  await main.query('CHECKPOINT');
  await main.query("INSERT INTO t VALUES (9, 'last')");
  // pg_walfile_name(switch LSN) names the segment the switch record ends: the last one written.
  const [{ last }] = (await main.query<{ last: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS last')) as [{ last: string }];

  const walDir = join(main.dataDir, 'pg_wal');
  names = readdirSync(walDir).filter((n) => /^[0-9A-F]{24}$/.test(n) && n >= first && n <= last).sort();
  for (const n of names) bytes.set(n, readFileSync(join(walDir, n)));
  golden = await waldump(names, bytes);

  other = await startPostgres({ walSegmentSizeMB: 1 });
  await other.query('SELECT pg_switch_wal()');
}, 180_000);

afterAll(async () => {
  await main?.destroy();
  await other?.destroy();
});

describe('WAL parser vs pg_waldump', () => {
  it('finds the same records, commits, aborts and restore points', () => {
    expect(names.length).toBeGreaterThanOrEqual(3);
    const ours = parseRun();

    // Every record pg_waldump printed, we read too (and no others).
    expect([...ours.lsns].sort()).toEqual([...golden.lsns].sort());

    const xacts = xactsOf(ours.events);
    expect(golden.xacts.length).toBeGreaterThan(200); // pgbench -t 100 -c 2 alone commits 200
    expect(xacts).toEqual(golden.xacts);

    const rps = ours.events
      .filter((e): e is Extract<WalEvent, { kind: 'restore_point' }> => e.kind === 'restore_point')
      .map((e) => ({ lsn: formatLsn(e.lsn), name: e.name }));
    expect(rps).toEqual(golden.restorePoints);
    expect(rps.map((r) => r.name)).toEqual(['before big records', 'x']);

    // The two-phase transactions and the subtransactions decoded as such.
    const prepared = ours.events.filter((e) => (e.kind === 'commit' || e.kind === 'abort') && e.prepared);
    expect(prepared.map((e) => e.kind)).toEqual(['commit', 'abort']);
    expect(ours.events.some((e) => e.kind === 'commit' && e.subxacts.length === 2)).toBe(true);
    expect(ours.events.some((e) => e.kind === 'checkpoint' && !e.shutdown)).toBe(true);
    expect(ours.events[ours.events.length - 1]!.kind).toBe('switch');

    // The big records were read whole (CRC verified), including the one crossing segments.
    expect(ours.sizes.some((n) => n > 8192 && n < SEG)).toBe(true);
    expect(ours.sizes.some((n) => n > SEG)).toBe(true);
    const spans = ours.summaries.filter((s) => s.continuation.partial !== null);
    expect(spans.length).toBeGreaterThanOrEqual(1);
  });

  it('summarises each segment consistently with the records', () => {
    const { summaries } = parseRun();
    const commits = golden.xacts.filter((x) => x.kind === 'commit');
    expect(summaries.reduce((n, s) => n + s.commits, 0)).toBe(commits.length);
    expect(summaries.reduce((n, s) => n + s.aborts, 0)).toBe(golden.xacts.length - commits.length);
    const withCommits = summaries.filter((s) => s.firstCommitTime !== null);
    expect(withCommits[0]!.firstCommitTime).toBe(commits[0]!.time);
    expect(withCommits[withCommits.length - 1]!.lastCommitTime).toBe(commits[commits.length - 1]!.time);
    expect(summaries.flatMap((s) => s.restorePoints.map((r) => r.name))).toEqual(['before big records', 'x']);
    for (const s of summaries) {
      expect(s.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(s.endLsn).toBeGreaterThan(s.startLsn);
    }
    expect(summaries[summaries.length - 1]!.switched).toBe(true);
    // JSON form keeps LSNs as 'X/Y'.
    const j = summaryToJson(summaries[0]!);
    expect(j.startLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(summaryFromJson(JSON.parse(JSON.stringify(j)))).toEqual(summaries[0]);
  });
});

describe('bad WAL input', () => {
  const walError = (fn: () => unknown): PitrdError => {
    try {
      fn();
    } catch (e) {
      expect(e).toBeInstanceOf(PitrdError);
      expect((e as PitrdError).code).toBe('WAL_INVALID');
      return e as PitrdError;
    }
    throw new Error('expected a WAL_INVALID error');
  };

  it('a truncated segment', () => {
    const name = names[0]!;
    const e = walError(() => readSegment(bytes.get(name)!.subarray(0, 300_000), { name }));
    expect(e.message).toContain(name);
    expect(e.message).toMatch(/truncated: 300000 bytes/);
  });

  it('a segment of another cluster', async () => {
    const sysid = BigInt(await main.systemIdentifier());
    const dir = join(other.dataDir, 'pg_wal');
    const foreign = readdirSync(dir).filter((n) => /^[0-9A-F]{24}$/.test(n)).sort()[0]!;
    const buf = readFileSync(join(dir, foreign));
    const e = walError(() => readSegment(buf, { name: foreign, expectedSystemId: sysid }));
    expect(e.message).toMatch(/belongs to another cluster: system identifier \d+, expected \d+/);
    expect(e.message).toContain(foreign);
    // Also caught when it is fed as the next segment of a run of ours.
    const last = names[names.length - 1]!;
    const r = readSegment(bytes.get(last)!, { name: last });
    const next = r.name.slice(0, 16) + (parseInt(r.name.slice(16), 16) + 1).toString(16).toUpperCase().padStart(8, '0');
    const e2 = walError(() => readSegment(buf, { name: next, continuation: r.continuation }));
    expect(e2.message).toMatch(/another cluster/);
  });

  it('a random file', () => {
    const buf = randomBytes(SEG);
    buf.writeUInt16LE(0x1234, 0); // never a PostgreSQL page magic (random bytes could be one, 6 in 65536)
    const e = walError(() => readSegment(buf, { name: names[0]! }));
    expect(e.message).toMatch(/not a WAL segment of PostgreSQL 13 to 18: page magic 0x1234/);
  });

  it('a misnamed segment and a flipped bit', () => {
    const name = names[1]!;
    const buf = Buffer.from(bytes.get(name)!);
    const e = walError(() => readSegment(buf, { name: names[0]! }));
    expect(e.message).toMatch(/page address .* does not match its position/);
    // Flip a bit of the stored CRC of the first record that starts in this segment.
    const r = readSegment(buf, { name });
    const off = Number(r.records[0]!.lsn - r.startLsn) + 20;
    buf[off] = buf[off]! ^ 0xff;
    const e2 = walError(() => readSegment(buf, { name }));
    expect(e2.message).toMatch(/record CRC-32C mismatch/);
    expect(e2.message).toContain(formatLsn(r.records[0]!.lsn));
  });

  it('an all-zeros tail is the end of valid WAL, not an error', () => {
    const name = names[0]!;
    const buf = Buffer.from(bytes.get(name)!);
    buf.fill(0, 5 * 8192);
    const r = readSegment(buf, { name });
    expect(r.endOfWal).toBe(true);
    expect(r.endLsn).toBeLessThanOrEqual(r.startLsn + BigInt(5 * 8192));
    expect(r.records.length).toBeGreaterThan(0);
  });
});
