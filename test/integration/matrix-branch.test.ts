/**
 * Branches over HTTP, PostgreSQL 13 to 18: one daemon (in-process, fs repository) whose
 * postgres.bin_dirs names every major's binaries (15: Debian's, found in the usual place); per
 * major in turn a source cluster is registered (its major and the availability of restore
 * binaries shown by GET …/databases/:name), archived, backed up, and branched at a time between
 * two marker rows: the branch runs that major's server and holds exactly the rows committed
 * before the target, takes writes without touching the source, and is deleted with its data
 * directory; then the database is deleted.
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanUp, pgBinDir, startPostgres, TEST_MAJORS, type PgCluster } from '../harness/index.js';
import { markerIdsAt, queryUri, startDaemonFixture, waitFor, type DaemonFixture } from './daemon-fixture.js';

const PASSWORD = 'Br4-matrix-Secret-pw';
let fx: DaemonFixture;
let projectId = '';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const between = (a: Date, b: Date) => new Date((a.getTime() + b.getTime()) / 2).toISOString();

beforeAll(async () => {
  const binDirs = Object.fromEntries(TEST_MAJORS.filter((m) => m !== 15).map((m) => [String(m), pgBinDir(m)]));
  fx = await startDaemonFixture({ postgres: { bin_dirs: binDirs } }, { schedules: false, summaryIntervalMs: 500 });
  projectId = (await fx.call('POST', '/projects', { name: 'matrix' })).json.data.id;
}, 120_000);

afterAll(() => cleanUp(() => fx?.close()), 120_000);

describe.each(TEST_MAJORS)('PostgreSQL %i', (major) => {
  let source: PgCluster;
  let base = '';
  const rows: Array<{ id: number; committed_at: Date }> = [];

  beforeAll(async () => {
    source = await startPostgres({ major, walSegmentSizeMB: 1, password: PASSWORD });
    await source.query('CREATE TABLE marker (id serial PRIMARY KEY, committed_at timestamptz NOT NULL DEFAULT clock_timestamp())');
    const name = `pg${major}`;
    const reg = await fx.call('POST', `/projects/${projectId}/databases`, { name, host: '127.0.0.1', port: source.port, user: 'postgres', password: PASSWORD, dbname: 'postgres', sslmode: 'disable' });
    expect(reg.status).toBe(201);
    base = `/projects/${projectId}/databases/${name}`;
    expect((await fx.call('POST', `${base}/pitr/enable`)).status).toBe(200);
    await waitFor('receiver running', async () => (await fx.call('GET', `${base}/pitr/receiver-status`)).json.data?.status === 'running');
    const b = await fx.call('POST', `${base}/backups`);
    expect(b.status).toBe(202);
    await waitFor('backup completed', async () => (await fx.call('GET', `${base}/backups/${b.json.data.id}`)).json.data.status === 'completed', 120_000, 200);
    for (let i = 1; i <= 3; i++) {
      await sleep(200);
      const [r] = await source.query<{ id: number; committed_at: Date }>('INSERT INTO marker DEFAULT VALUES RETURNING id, committed_at');
      rows.push(r!);
      await source.query('SELECT pg_switch_wal()');
    }
    await source.query('CREATE TABLE tail (id int)');
    await source.query('SELECT pg_switch_wal()');
    await waitFor('a recovery window past the last row', async () => {
      const d = (await fx.call('GET', `${base}/pitr/recovery-window`)).json.data;
      return d.status === 'ok' && Date.parse(d.to) >= rows[2]!.committed_at.getTime();
    }, 120_000, 250);
  }, 240_000);

  afterAll(() => cleanUp(async () => {
    if (base) await fx.call('DELETE', base);
  }, () => source?.destroy()), 120_000);

  it('shows the database’s major and that restore binaries for it exist', async () => {
    const d = (await fx.call('GET', base)).json.data;
    expect(d.pg_major).toBe(major);
    expect(d.restore_binaries).toEqual({ available: true });
  });

  it('branches at a time between rows 1 and 2: this major’s server, exactly row 1, writable, deleted with its directory', async () => {
    const r = await fx.call('POST', `${base}/branches`, { branch_name: `preview-${major}`, target_time: between(rows[0]!.committed_at, rows[1]!.committed_at) });
    expect(r.status).toBe(202);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- route JSON, asserted field by field
    const branch: any = await waitFor(`branch ${r.json.data.id} running`, async () => {
      const got = (await fx.call('GET', `${base}/branches/${r.json.data.id}`)).json.data;
      if (got.status === 'failed') throw new Error(`branch failed: ${got.error}`);
      return got.status === 'running' ? got : null;
    }, 180_000, 200);
    const uri: string = branch.connection_uri;
    const [v] = await queryUri<{ v: string }>(uri, PASSWORD, `SELECT current_setting('server_version_num') AS v`);
    expect(Math.floor(Number(v!.v) / 10000)).toBe(major);
    expect(await markerIdsAt(uri, PASSWORD)).toEqual([1]);
    await queryUri(uri, PASSWORD, 'INSERT INTO marker (id) VALUES (100)');
    expect(await markerIdsAt(uri, PASSWORD)).toEqual([1, 100]);
    expect((await source.query<{ id: number }>('SELECT id FROM marker ORDER BY id')).map((x) => x.id)).toEqual([1, 2, 3]);
    const del = await fx.call('DELETE', `${base}/branches/${branch.id}`);
    expect(del.status).toBe(200);
    expect(existsSync(branch.data_dir)).toBe(false);
  }, 240_000);
});
