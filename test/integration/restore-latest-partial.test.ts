/**
 * `latest` restores also replay the receiver's spool: a real PG 15 source, the real receiver,
 * one base backup, then marker rows committed WITHOUT a segment switch, so they live only in the
 * spool's `<segment>.partial` (flushed, not archived). A `latest` restore given the spool holds
 * every row; the same restore without it holds only what the archive holds, which proves the
 * partial is what served them. The served copy is exactly wal_segment_size, zero-padded, and the
 * spool's partial is left where it was (the receiver still owns it).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPitrdError } from '../../src/errors.js';
import { spoolDirOf } from '../../src/receiver/index.js';
import type { DatabaseRepository } from '../../src/repository/index.js';
import { assertSpoolOf, copyPaddedPartial, runRestore, segmentAfterArchive, servableFromSpool } from '../../src/restore/index.js';
import { parseLsn } from '../../src/wal/index.js';
import { startArchiveFixture, type ArchiveFixture } from '../harness/archive-fixture.js';
import { startPostgres, type PgCluster, cliJson } from '../harness/index.js';
import { waitFor } from '../harness/receiver.js';
import { markerIdsAt, startDaemonFixture, type DaemonFixture } from './daemon-fixture.js';

const SEG = 1024 * 1024;
let fx: ArchiveFixture;
let db: DatabaseRepository;
let spoolDir: string;
/** The segment the rows after the backup were written to: never switched, so only in the spool. */
let partialSeg: string;

/** A snapshot of the spool's partial: the receiver may append to it (idle-server WAL), never rewrite it. */
function snapshot(): { size: number; bytes: Buffer } {
  const bytes = readFileSync(join(spoolDir, `${partialSeg}.partial`));
  return { size: bytes.length, bytes };
}

function expectUntouched(before: { size: number; bytes: Buffer }): void {
  const path = join(spoolDir, `${partialSeg}.partial`);
  expect(existsSync(path)).toBe(true);
  const now = readFileSync(path);
  expect(now.length).toBeGreaterThanOrEqual(before.size);
  expect(now.length).toBeLessThan(SEG);
  expect(createHash('sha256').update(now.subarray(0, before.size)).digest('hex')).toBe(createHash('sha256').update(before.bytes).digest('hex'));
}

beforeAll(async () => {
  fx = await startArchiveFixture({ tag: 'rlp', compression: 'gzip' });
  db = fx.db;
  spoolDir = fx.receiver.spoolDir;
  await fx.source.query(`CREATE TABLE marker (id serial PRIMARY KEY, committed_at timestamptz NOT NULL DEFAULT clock_timestamp())`);
  await fx.source.query(`INSERT INTO marker DEFAULT VALUES`);
  const rec = await fx.backup('latest-partial');
  expect(rec.status).toBe('completed');
  // Rows 2..4: no pg_switch_wal afterwards, so their segment is never completed nor archived.
  let commitEnd = '';
  for (let i = 2; i <= 4; i++) {
    await fx.source.query(`INSERT INTO marker DEFAULT VALUES`);
    commitEnd = (await fx.source.query<{ l: string }>(`SELECT pg_current_wal_lsn()::text AS l`))[0]!.l;
  }
  partialSeg = await fx.currentSegment();
  const target = parseLsn(commitEnd);
  await waitFor('receiver flushed past the last commit', () => {
    const flushed = fx.receiver.status().last_flushed_lsn;
    return flushed !== null && parseLsn(flushed) >= target ? true : null;
  }, 60_000);
  // Preconditions of every test below: the rows are in the spool's partial only.
  expect(existsSync(join(spoolDir, `${partialSeg}.partial`))).toBe(true);
  expect(await db.wal.hasSegment(1, partialSeg)).toBe(false);
  const last = await db.wal.lastSegment();
  expect(segmentAfterArchive([last!], 1, SEG)).toBe(partialSeg);
}, 180_000);

afterAll(async () => {
  await fx?.destroy();
});

describe('restore to latest with the receiver spool', () => {
  it('replays the spool partial: every committed row is restored, and the record names the partial', async () => {
    const before = snapshot();
    const { ids, record } = await fx.restoreRunning({ target: { kind: 'latest' }, spoolDir, prefetchDepth: 2 }, async (r) => ({ ids: await fx.markerIds(r.port!), record: r.record }));
    expect(ids).toEqual([1, 2, 3, 4]);
    expect(record.status).toBe('completed');
    expect(record.partial_segment).toBe(partialSeg);
    expect((await db.restores.get(record.id))?.partial_segment).toBe(partialSeg);
    expectUntouched(before);
  }, 120_000);

  it('without the spool only the archived rows come back (the partial served the others)', async () => {
    const { ids, record } = await fx.restoreRunning({ target: { kind: 'latest' }, prefetchDepth: 2 }, async (r) => ({ ids: await fx.markerIds(r.port!), record: r.record }));
    expect(ids).toEqual([1]);
    expect(record.partial_segment).toBeUndefined();
    expect((await db.restores.get(record.id))?.partial_segment).toBeUndefined();
  }, 120_000);

  it('ignores the spool for targets other than latest (they are checked against the archive)', async () => {
    const { ids, record } = await fx.restoreRunning({ target: { kind: 'immediate' }, spoolDir }, async (r) => ({ ids: await fx.markerIds(r.port!), record: r.record }));
    expect(ids).toEqual([1]);
    expect(record.partial_segment).toBeUndefined();
  }, 120_000);

  it('pitrd restore --latest serves the partial of <spool_dir>/<project>/<database> from the config', async () => {
    const cfgDir = fx.tempDir('cli-cfg');
    const spoolRoot = join(cfgDir, 'spool');
    // The config's spool of this database (<spool_dir>/<project>/<name>) is the receiver's spool.
    const configured = spoolDirOf(spoolRoot, { project: db.keys.project, name: db.keys.database });
    mkdirSync(dirname(configured), { recursive: true });
    symlinkSync(spoolDir, configured);
    const config = join(cfgDir, 'pitrd.yaml');
    writeFileSync(config, `${readFileSync(fx.configFile(), 'utf8')}spool_dir: ${spoolRoot}\n`, { mode: 0o600 });
    const before = snapshot();
    const { execa } = await import('execa');
    const root = fx.tempDir('cli-target');
    const res = await execa(join(process.cwd(), 'node_modules', '.bin', 'tsx'), [join(process.cwd(), 'src', 'cli', 'main.ts'), '-c', config, 'restore', '--latest', '--target-dir', join(root, 'data'), '--json'], { reject: false });
    expect(res.stderr).toBe('');
    expect(res.exitCode).toBe(0);
    const summary = cliJson(res.stdout) as { restore: { status: string; partial_segment?: string } };
    expect(summary.restore.status).toBe('completed');
    expect(summary.restore.partial_segment).toBe(partialSeg);
    expectUntouched(before);
    rmSync(root, { recursive: true, force: true });
  }, 120_000);
});

describe('serving a spool partial', () => {
  it('copies the partial padded with zeros to exactly wal_segment_size and leaves it in place', () => {
    const dir = fx.tempDir('copy');
    const before = snapshot();
    expect(copyPaddedPartial(spoolDir, partialSeg, join(dir, partialSeg), SEG)).toBe('partial');
    const served = readFileSync(join(dir, partialSeg));
    expect(served.length).toBe(SEG);
    expect(statSync(join(dir, partialSeg)).size).toBe(SEG);
    // The served prefix is the partial as it was read (at least what was flushed before), then zeros.
    expect(served.subarray(0, before.size).equals(before.bytes)).toBe(true);
    const now = readFileSync(join(spoolDir, `${partialSeg}.partial`));
    let end = served.length;
    while (end > 0 && served[end - 1] === 0) end--;
    expect(end).toBeLessThanOrEqual(now.length);
    expectUntouched(before);
  });

  it('serves a segment the receiver completed meanwhile, and nothing when the spool has neither', () => {
    const spool = fx.tempDir('fake-spool');
    const dest = fx.tempDir('fake-dest');
    const name = '000000010000000000000042';
    const full = Buffer.alloc(SEG, 7);
    writeFileSync(join(spool, name), full);
    expect(copyPaddedPartial(spool, name, join(dest, name), SEG)).toBe('segment');
    expect(readFileSync(join(dest, name)).equals(full)).toBe(true);
    expect(readFileSync(join(spool, name)).equals(full)).toBe(true);
    expect(copyPaddedPartial(spool, '000000010000000000000043', join(dest, 'x'), SEG)).toBeNull();
    expect(existsSync(join(dest, 'x'))).toBe(false);
  });

  it('picks the segment after the last archived one only on the restore timeline', () => {
    const seg = (timeline: number, name: string) => ({ timeline, name });
    expect(segmentAfterArchive([seg(1, '000000010000000000000003'), seg(1, '0000000100000000000000FF')], 1, SEG)).toBe('000000010000000000000100');
    // 1 MiB segments: 4096 per xlogid, so the last of one id is followed by the first of the next.
    expect(segmentAfterArchive([seg(1, '000000010000000000000FFF')], 1, SEG)).toBe('000000010000000100000000');
    expect(segmentAfterArchive([seg(1, '000000010000000000000003')], 2, SEG)).toBeNull();
    expect(segmentAfterArchive([], 1, SEG)).toBeNull();
    // From there on, only segments of the same timeline (PostgreSQL asks for them in order).
    const first = '000000010000000000000004';
    expect(servableFromSpool(first, first, SEG)).toBe(true);
    expect(servableFromSpool('000000010000000000000005', first, SEG)).toBe(true);
    expect(servableFromSpool('000000010000000000000003', first, SEG)).toBe(false);
    expect(servableFromSpool('000000020000000000000005', first, SEG)).toBe(false);
    expect(servableFromSpool('00000001.history', first, SEG)).toBe(false);
    expect(servableFromSpool(`${first}.partial`, first, SEG)).toBe(false);
  });

  it('refuses the spool of another system before touching the target directory', async () => {
    const spool = fx.tempDir('other-spool');
    writeFileSync(join(spool, 'spool.json'), JSON.stringify({ system_identifier: '1', wal_segment_size: SEG }));
    expect(() => assertSpoolOf(spool, '2', SEG)).toThrow(/system 1/);
    const root = fx.tempDir('other-target');
    const before = (await db.restores.list()).length;
    const err = await runRestore({ db, target: { kind: 'latest' }, spoolDir: spool, targetDir: join(root, 'data') }).catch((e: unknown) => e);
    expect(isPitrdError(err, 'SYSTEM_ID_MISMATCH')).toBe(true);
    expect((err as Error).message).toContain(spool);
    expect(existsSync(join(root, 'data'))).toBe(false);
    expect((await db.restores.list()).length).toBe(before);
  });
});

// Runs after the tests above (it moves the source past their partial segment).
describe('a spool that holds a completed segment the uploader has not sent yet', () => {
  it('serves the completed segment as is, then the partial after it: every row is restored', async () => {
    // Row 5 closes the partial segment; it is archived, then taken out of the repository again:
    // as if the uploader had not sent it yet (the spool below still has it, complete).
    await fx.source.query('INSERT INTO marker DEFAULT VALUES');
    const completed = await fx.switchAndWait();
    expect(completed).toBe(partialSeg);
    const stale = readFileSync(join(spoolDir, 'spool.json'));
    const bytes = await db.wal.getSegment(1, completed);
    await db.wal.removeSegments([{ timeline: 1, name: completed }]);
    // Row 6 goes to the next segment, which stays partial.
    await fx.source.query('INSERT INTO marker DEFAULT VALUES');
    const commitEnd = parseLsn((await fx.source.query<{ l: string }>(`SELECT pg_current_wal_lsn()::text AS l`))[0]!.l);
    const next = await fx.currentSegment();
    expect(next > completed).toBe(true);
    await waitFor('receiver flushed past row 6', () => {
      const f = fx.receiver.status().last_flushed_lsn;
      return f !== null && parseLsn(f) >= commitEnd ? true : null;
    }, 60_000);
    const spool = fx.tempDir('lagging-spool');
    writeFileSync(join(spool, 'spool.json'), stale);
    writeFileSync(join(spool, completed), bytes);
    writeFileSync(join(spool, `${next}.partial`), readFileSync(join(spoolDir, `${next}.partial`)));

    const { ids, record } = await fx.restoreRunning({ target: { kind: 'latest' }, spoolDir: spool, prefetchDepth: 2 }, async (r) => ({ ids: await fx.markerIds(r.port!), record: r.record }));
    expect(ids).toEqual([1, 2, 3, 4, 5, 6]);
    expect(record.partial_segment).toBe(next);
    // Both spool files are left as they were.
    expect(readFileSync(join(spool, completed)).equals(bytes)).toBe(true);
    expect(existsSync(join(spool, `${next}.partial`))).toBe(true);
  }, 180_000);
});

describe('the daemon: restores and branches to latest replay the receiver spool', () => {
  const PASSWORD = 'Lp6-partial-Secret-pw';
  let source: PgCluster;
  let dfx: DaemonFixture;
  let base = '';
  let projectId = '';

  const idsAt = (uri: string) => markerIdsAt(uri, PASSWORD);


  beforeAll(async () => {
    source = await startPostgres({ walSegmentSizeMB: 1, password: PASSWORD });
    await source.query('CREATE TABLE marker (id serial PRIMARY KEY, committed_at timestamptz NOT NULL DEFAULT clock_timestamp())');
    await source.query('INSERT INTO marker DEFAULT VALUES');
    dfx = await startDaemonFixture({}, { schedules: false, summaryIntervalMs: 500 });
    projectId = (await dfx.call('POST', '/projects', { name: 'lp' })).json.data.id;
    expect((await dfx.call('POST', `/projects/${projectId}/databases`, { name: 'main', host: '127.0.0.1', port: source.port, user: 'postgres', password: PASSWORD, dbname: 'postgres', sslmode: 'disable' })).status).toBe(201);
    base = `/projects/${projectId}/databases/main`;
    expect((await dfx.call('POST', `${base}/pitr/enable`)).status).toBe(200);
    await waitFor('receiver running', async () => ((await dfx.call('GET', `${base}/pitr/receiver-status`)).json.data?.status === 'running' ? true : null), 60_000);
    const b = await dfx.call('POST', `${base}/backups`, { label: 'latest-partial' });
    expect(b.status).toBe(202);
    await waitFor('backup completed', async () => {
      const r = (await dfx.call('GET', `${base}/backups/${b.json.data.id}`)).json.data;
      if (r.status === 'failed') throw new Error(`backup failed: ${r.error}`);
      return r.status === 'completed' ? r : null;
    }, 120_000, 200);
    // Rows 2 and 3 are never switched out: only the receiver's spool partial holds them.
    await source.query('INSERT INTO marker DEFAULT VALUES');
    await source.query('INSERT INTO marker DEFAULT VALUES');
    const commitEnd = parseLsn((await source.query<{ l: string }>('SELECT pg_current_wal_lsn()::text AS l'))[0]!.l);
    await waitFor('receiver flushed past the last commit', async () => {
      const f = (await dfx.call('GET', `${base}/pitr/receiver-status`)).json.data?.last_flushed_lsn as string | null | undefined;
      return f && parseLsn(f) >= commitEnd ? true : null;
    }, 60_000);
    const current = (await source.query<{ f: string }>('SELECT pg_walfile_name(pg_current_wal_lsn()) AS f'))[0]!.f;
    expect(await dfx.daemon.repo.database({ project: projectId, name: 'main' }).wal.hasSegment(1, current)).toBe(false);
  }, 240_000);

  afterAll(async () => {
    try {
      await dfx?.close();
    } finally {
      await source?.destroy();
    }
  }, 120_000);

  it('POST /pitr/restore latest holds every row committed, and its record names the partial', async () => {
    const r = await dfx.call('POST', `${base}/pitr/restore`, { target: 'latest', mode: 'running' });
    expect(r.status, JSON.stringify(r.json)).toBe(202);
    const id: string = r.json.data.restore_id;
    const done = await waitFor(`restore ${id} finished`, async () => {
      const d = (await dfx.call('GET', `${base}/pitr/restores/${id}`)).json.data;
      return d.status === 'running' || d.status === 'pending' ? null : d;
    }, 180_000, 200);
    expect(done).toMatchObject({ status: 'completed', mode: 'running' });
    expect(await idsAt(done.connection_uri)).toEqual([1, 2, 3]);
    expect((await dfx.daemon.repo.database({ project: projectId, name: 'main' }).restores.get(id))?.partial_segment).toMatch(/^[0-9A-F]{24}$/);
  }, 240_000);

  it('a branch (latest by default) holds every row committed too', async () => {
    const r = await dfx.call('POST', `${base}/branches`, { branch_name: 'tip' });
    expect(r.status, JSON.stringify(r.json)).toBe(202);
    const br = await waitFor(`branch ${r.json.data.id} running`, async () => {
      const d = (await dfx.call('GET', `${base}/branches/${r.json.data.id}`)).json.data;
      if (d.status === 'failed') throw new Error(`branch failed: ${d.error}`);
      return d.status === 'running' ? d : null;
    }, 180_000, 200);
    expect(await idsAt(br.connection_uri)).toEqual([1, 2, 3]);
    expect((await dfx.daemon.repo.database({ project: projectId, name: 'main' }).restores.get(r.json.data.restore_id))?.partial_segment).toMatch(/^[0-9A-F]{24}$/);
    expect((await dfx.call('DELETE', `${base}/branches/${r.json.data.id}`)).status).toBeLessThan(300);
  }, 240_000);
});
