/**
 * The catalog against a real archive: a real receiver streams a Postgres 15 workload into an fs
 * repository, a PITR base backup lands beside it; summaries, the recovery window and `pitrd
 * verify` are checked against pg_waldump and against damage done to the stored objects.
 */
import { execa } from 'execa';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArchiveSummarizer, recoveryWindow, summarizeArchive, verifyDatabase } from '../../src/catalog/index.js';
import type { BackupRecord, Repository, StoredWalSegment } from '../../src/repository/index.js';
import type { ObjectStore } from '../../src/storage/index.js';
import { parseLsn } from '../../src/wal/index.js';
import { PG_BIN, type PgCluster, cliJson } from '../harness/index.js';
import { startArchiveFixture, type ArchiveFixture } from '../harness/archive-fixture.js';
import { parseWaldump } from './wal-waldump.js';

let fx: ArchiveFixture;
let pg: PgCluster;
let store: ObjectStore;
let repo: Repository;
let repoDir: string;

beforeAll(async () => {
  // No autovacuum: its ANALYZE commits would land after "the last commit we made".
  // Uncompressed and unencrypted, so a test can flip a byte of a stored segment.
  fx = await startArchiveFixture({ tag: 'catalog', settings: { autovacuum: 'off' }, compression: 'none' });
  ({ source: pg, store, repo, repoDir } = fx);
}, 60_000);

afterAll(async () => {
  await fx?.destroy();
});

/** Switch WAL and wait until the segment holding everything so far is archived. */
async function switchAndWait(): Promise<string> {
  return fx.switchAndWait(60_000);
}

async function listed(): Promise<StoredWalSegment[]> {
  const out: StoredWalSegment[] = [];
  for await (const s of repo.database({ project: 'default', name: 'main' }).wal.listSegments(1)) out.push(s);
  return out;
}

/** pg_waldump's commits over archived segments [first..last] (copied out of the repository). */
async function waldumpCommits(segs: readonly StoredWalSegment[]): Promise<{ time: string; lsn: string }[]> {
  const dir = fx.tempDir('dump');
  for (const s of segs) writeFileSync(join(dir, s.name), await repo.database({ project: 'default', name: 'main' }).wal.getSegment(s.timeline, s.name));
  const r = await execa(join(PG_BIN, 'pg_waldump'), ['-p', dir, segs[0]!.name, segs[segs.length - 1]!.name], { reject: false });
  return parseWaldump(r.stdout).xacts.filter((x) => x.kind === 'commit');
}

async function writeSomeWal(rows: number): Promise<void> {
  for (let i = 0; i < 4; i++) await pg.query(`INSERT INTO t (v) SELECT md5(g::text) || repeat('x', 200) FROM generate_series(1, ${rows}) g`);
}

describe('catalog on a real archive', () => {
  let backup: BackupRecord;
  let firstRunRead = 0;
  let lastCommitClock = '';
  let afterLastCommit = '';

  it('summarises incrementally: a second run reads only the newly archived segments', async () => {
    await pg.query(`CREATE TABLE t (id serial PRIMARY KEY, v text)`);
    await writeSomeWal(2000);
    await switchAndWait();
    const r1 = await summarizeArchive(repo, { project: 'default', name: 'main' });
    firstRunRead = r1.read;
    expect(r1.failed).toEqual([]);
    expect(r1.read).toBe((await listed()).length);
    expect(r1.read).toBeGreaterThan(1);
    // Nothing new: nothing read.
    const again = await summarizeArchive(repo, { project: 'default', name: 'main' });
    expect(again.read).toBe(0);
    expect(again.alreadySummarized).toBe(r1.read);

    backup = await fx.backup('catalog');
    expect(backup.status).toBe('completed');

    await writeSomeWal(3000);
    const [c] = await pg.query<{ t: string }>(
      `WITH ins AS (INSERT INTO t (v) VALUES ('last') RETURNING 1) SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t FROM ins`,
    );
    lastCommitClock = c!.t;
    afterLastCommit = (await pg.query<{ t: string }>(`SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t`))[0]!.t;
    await switchAndWait();

    const total = (await listed()).length;
    const r2 = await summarizeArchive(repo, { project: 'default', name: 'main' });
    expect(r2.failed).toEqual([]);
    expect(r2.alreadySummarized).toBe(firstRunRead);
    expect(r2.read).toBe(total - firstRunRead);
    expect(r2.read).toBeGreaterThan(2);
    // Only the very first segment was read without a predecessor's state.
    expect(r2.restartedAt).toEqual([]);

    // Same result as a rebuild from scratch.
    const db = repo.database({ project: 'default', name: 'main' });
    const incremental = await db.walSummaries.list();
    await db.walSummaries.remove(incremental.map((s) => ({ timeline: s.timeline, segment: s.segment })));
    const rebuilt = await summarizeArchive(repo, { project: 'default', name: 'main' });
    expect(rebuilt.read).toBe(total);
    expect(await db.walSummaries.list()).toEqual(incremental);
  }, 150_000);

  it('the recovery window runs from the backup consistency point to the last commit', async () => {
    const [w] = await recoveryWindow(repo, { project: 'default', name: 'main' });
    expect(w).toMatchObject({ timeline: 1, status: 'ok', backup_id: backup.id, from: backup.stop_time, from_lsn: backup.stop_lsn, gaps: [] });
    const commits = await waldumpCommits(await listed());
    const last = commits[commits.length - 1]!;
    expect(w!.last_commit_time).toBe(last.time);
    // `to`: the time the WAL runs through, the last commit or a later timestamped record (a
    // restore point, a checkpoint); to_lsn: the end of the gap-free WAL, past the last commit.
    expect(w!.to! >= last.time).toBe(true);
    expect(w!.ranges).toHaveLength(1);
    expect(w!.ranges[0]!.to_lsn).toBe(w!.to_lsn);
    expect(parseLsn(w!.to_lsn!) > parseLsn(last.lsn)).toBe(true);
    expect(w!.latest_wal_time).toBe(w!.to);
    // And that commit is the one we made last: it committed between these two clock readings.
    expect(Date.parse(w!.last_commit_time!)).toBeGreaterThanOrEqual(Date.parse(lastCommitClock));
    expect(w!.last_commit_time! <= afterLastCommit).toBe(true);
    const report = await verifyDatabase(repo, { project: 'default', name: 'main' });
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.segments_checked).toBe((await listed()).length);
  });

  it('a segment deleted from the middle: verify names exactly that gap (CLI exit 1) and the window ends before it', async () => {
    const segs = await listed();
    const victim = segs[segs.length - 3]!;
    const before = segs[segs.length - 4]!;
    const saved = readFileSync(join(repoDir, victim.key!));
    await store.delete([victim.key!]);
    try {
      const report = await verifyDatabase(repo, { project: 'default', name: 'main' });
      expect(report.ok).toBe(false);
      expect(report.problems).toHaveLength(1);
      expect(report.problems[0]).toMatchObject({ kind: 'wal_gap', timeline: 1, segments: [victim.name] });

      const cfg = fx.configFile();
      const cli = await execa('npx', ['tsx', 'src/cli/main.ts', 'verify', '-c', cfg], { reject: false, cwd: process.cwd() });
      expect(cli.exitCode).toBe(1);
      expect(cli.stdout).toContain(victim.name);
      const json = await execa('npx', ['tsx', 'src/cli/main.ts', 'verify', '-c', cfg, '--json', '--quick'], { reject: false });
      expect(json.exitCode).toBe(1);
      const parsed = cliJson(json.stdout) as { ok: boolean; databases: { problems: { kind: string; segments: string[] }[] }[] };
      expect(parsed.ok).toBe(false);
      expect(parsed.databases[0]!.problems.map((p) => [p.kind, p.segments])).toEqual([['wal_gap', [victim.name]]]);

      const [w] = await recoveryWindow(repo, { project: 'default', name: 'main' });
      expect(w!.status).toBe('ok');
      expect(w!.gaps).toEqual([victim.name]);
      expect(w!.last_segment).toBe(before.name);
      const commits = await waldumpCommits(segs.slice(0, segs.length - 3));
      expect(w!.last_commit_time).toBe(commits[commits.length - 1]!.time);
      // `to` is the time the WAL before the gap runs through: at least its last commit, before the
      // commits past the gap.
      expect(w!.to! >= w!.last_commit_time!).toBe(true);
      expect(Date.parse(w!.to!)).toBeLessThan(Date.parse(lastCommitClock));
      const cliWindow = await execa('npx', ['tsx', 'src/cli/main.ts', 'wal', 'window', '-c', cfg, '--database', 'main', '--json'], { reject: false });
      expect(cliWindow.exitCode).toBe(0);
      expect(cliJson(cliWindow.stdout)).toEqual([w]);

      // Rebuilding summaries across the gap: the segment after it is read without the state the
      // missing one would have left (a record crossing the gap cannot be decoded).
      const db = repo.database({ project: 'default', name: 'main' });
      const all = await db.walSummaries.list();
      await db.walSummaries.remove(all.map((s) => ({ timeline: s.timeline, segment: s.segment })));
      const cliSummarize = await execa('npx', ['tsx', 'src/cli/main.ts', 'wal', 'summarize', '-c', cfg, '--json'], { reject: false });
      expect(cliSummarize.exitCode).toBe(0);
      const rebuilt = cliJson(cliSummarize.stdout) as { read: number; restartedAt: string[]; failed: unknown[] };
      expect(rebuilt).toMatchObject({ read: segs.length - 1, failed: [], restartedAt: [segs[0]!.name, segs[segs.length - 2]!.name] });
      expect((await recoveryWindow(repo, { project: 'default', name: 'main' }))[0]).toEqual(w);
    } finally {
      writeFileSync(join(repoDir, victim.key!), saved);
    }
    expect((await verifyDatabase(repo, { project: 'default', name: 'main' })).ok).toBe(true);
    // The restored segment is summarised again with its predecessor's state, the window whole.
    const refill = await summarizeArchive(repo, { project: 'default', name: 'main' });
    expect(refill).toMatchObject({ read: 2, restartedAt: [], failed: [] });
    expect(await repo.database({ project: 'default', name: 'main' }).walSummaries.get(1, segs[segs.length - 2]!.name)).toMatchObject({ restarted: false });
    const [whole] = await recoveryWindow(repo, { project: 'default', name: 'main' });
    expect(whole!.gaps).toEqual([]);
    expect(whole!.last_segment).toBe(segs[segs.length - 1]!.name);
  }, 90_000);

  it('a flipped byte in a stored segment is a checksum problem naming the segment', async () => {
    const segs = await listed();
    const victim = segs[2]!;
    const path = join(repoDir, victim.key!);
    expect(statSync(path).size).toBe(1024 * 1024); // stored raw: no compression, no encryption
    const original = readFileSync(path);
    const damaged = Buffer.from(original);
    damaged[5000] = damaged[5000]! ^ 0xff;
    writeFileSync(path, damaged);
    try {
      const report = await verifyDatabase(repo, { project: 'default', name: 'main' });
      expect(report.problems).toHaveLength(1);
      expect(report.problems[0]).toMatchObject({ kind: 'checksum', segments: [victim.name] });
      expect(report.problems[0]!.message).toContain(victim.name);
      // --quick does not re-read, so it cannot see it.
      expect((await verifyDatabase(repo, { project: 'default', name: 'main' }, { quick: true })).ok).toBe(true);
      // The summarizer refuses the damaged bytes and says which segment.
      await repo.database({ project: 'default', name: 'main' }).walSummaries.remove([{ timeline: 1, segment: victim.name }]);
      const r = await summarizeArchive(repo, { project: 'default', name: 'main' });
      expect(r.read).toBe(1);
      expect(r.failed.map((f) => f.segment)).toEqual([victim.name]);
    } finally {
      writeFileSync(path, original);
    }
    const healed = await summarizeArchive(repo, { project: 'default', name: 'main' });
    expect(healed).toMatchObject({ read: 1, failed: [], restartedAt: [] });
  });

  it('ArchiveSummarizer coalesces triggers and runs one at a time', async () => {
    await writeSomeWal(1000);
    await switchAndWait();
    const s = new ArchiveSummarizer(repo, { project: 'default', name: 'main' });
    s.trigger();
    s.trigger();
    s.trigger();
    await s.idle();
    const st = s.status();
    expect(st.runs).toBe(2); // the first run, then one for the two triggers that came during it
    expect(st.last_error).toBeNull();
    expect(st.state).toBe('idle');
    const summaries = await repo.database({ project: 'default', name: 'main' }).walSummaries.list();
    expect(summaries).toHaveLength((await listed()).length);
  }, 60_000);
});
