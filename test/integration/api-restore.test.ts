/**
 * Restores end to end through HTTP only: a real PostgreSQL 15 (1 MB WAL segments), the daemon
 * in-process on an fs repository. Register the database, enable PITR, wait for WAL, take a base
 * backup, commit marker rows, read the recovery window, restore to a time between two rows, poll
 * the restore to completed, start the restored data directory and read exactly the rows committed
 * before the target. Also: a backup restore left running (connection URI), a target before the
 * window refused with nothing written, pagination of the restores, and a restore interrupted by a
 * daemon shutdown.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanUp, startPostgres, type PgCluster } from '../harness/index.js';
import { markerIdsAt, startDaemonFixture, waitFor, type DaemonFixture } from './daemon-fixture.js';

const PASSWORD = 'Rs7-restore-Secret-pw';
let source: PgCluster;
let fx: DaemonFixture;
let base: string;
let backup: { id: string; stop_time: string };
const rows: Array<{ id: number; committed_at: Date; xid: string }> = [];
let lsnAfter2 = '';
let firstRestore: { target: string; id?: string; dir?: string };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const between = (a: Date, b: Date) => new Date((a.getTime() + b.getTime()) / 2).toISOString();

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- route JSON, asserted field by field
async function untilFinished(id: string): Promise<any> {
  return waitFor(`restore ${id} to finish`, async () => {
    const r = await fx.call('GET', `${base}/pitr/restores/${id}`);
    expect(r.status).toBe(200);
    const p = r.json.data.progress;
    // Progress is shown only while it runs; its phase is one src/restore reports.
    if (r.json.data.status === 'running' && p !== null) expect(['plan', 'extract', 'replay', 'target_reached']).toContain(p.phase);
    if (r.json.data.status !== 'running') expect(p).toBeNull();
    return r.json.data.status === 'running' || r.json.data.status === 'pending' ? null : r.json.data;
  }, 180_000, 200);
}

const markerIds = (uri: string) => markerIdsAt(uri, PASSWORD);

beforeAll(async () => {
  source = await startPostgres({ walSegmentSizeMB: 1, password: PASSWORD });
  await source.query('CREATE TABLE marker (id serial PRIMARY KEY, committed_at timestamptz NOT NULL DEFAULT clock_timestamp())');
  fx = await startDaemonFixture({}, { schedules: false, summaryIntervalMs: 500 });
}, 120_000);

afterAll(() => cleanUp(() => fx?.close(), () => source?.destroy()), 120_000);

describe('restores over HTTP', () => {
  it('registers the database, enables PITR, takes a base backup and archives marker rows', async () => {
    const projectId = (await fx.call('POST', '/projects', { name: 'rst' })).json.data.id;
    const reg = await fx.call('POST', `/projects/${projectId}/databases`, { name: 'main', host: '127.0.0.1', port: source.port, user: 'postgres', password: PASSWORD, dbname: 'postgres', sslmode: 'disable' });
    expect(reg.status).toBe(201);
    base = `/projects/${projectId}/databases/main`;
    expect((await fx.call('POST', `${base}/pitr/enable`)).status).toBe(200);
    await waitFor('receiver running', async () => (await fx.call('GET', `${base}/pitr/receiver-status`)).json.data?.status === 'running');

    const b = await fx.call('POST', `${base}/backups`, { label: 'restore-e2e' });
    expect(b.status).toBe(202);
    backup = await waitFor('backup completed', async () => {
      const r = (await fx.call('GET', `${base}/backups/${b.json.data.id}`)).json.data;
      if (r.status === 'failed') throw new Error(`backup failed: ${r.error}`);
      return r.status === 'completed' ? r : null;
    }, 120_000, 200);

    for (let i = 1; i <= 4; i++) {
      await sleep(300);
      const [r] = await source.query<{ id: number; committed_at: Date; xid: string }>('INSERT INTO marker DEFAULT VALUES RETURNING id, committed_at, pg_current_xact_id()::text AS xid');
      rows.push(r!);
      if (i === 2) lsnAfter2 = (await source.query<{ l: string }>('SELECT pg_current_wal_lsn()::text AS l'))[0]!.l;
      if (i === 3) await source.query("SELECT pg_create_restore_point('after_row_3')");
      await source.query('SELECT pg_switch_wal()');
    }
    // One more commit, so a target after row 4 has a record to stop at.
    await source.query('CREATE TABLE tail (id int)');
    await source.query('SELECT pg_switch_wal()');
    const w = await waitFor('a recovery window past the last row', async () => {
      const d = (await fx.call('GET', `${base}/pitr/recovery-window`)).json.data;
      return d.status === 'ok' && Date.parse(d.to) >= rows[3]!.committed_at.getTime() ? d : null;
    }, 120_000, 250);
    expect(Date.parse(w.from)).toBeLessThanOrEqual(rows[0]!.committed_at.getTime());
  }, 240_000);

  it('restores to a time between rows 2 and 3: 202, polled to completed, exactly rows 1 and 2', async () => {
    const target = between(rows[1]!.committed_at, rows[2]!.committed_at);
    firstRestore = { target };
    const r = await fx.call('POST', `${base}/pitr/restore`, { target_time: target }, { 'idempotency-key': 'rst-1' });
    expect(r.status).toBe(202);
    const id: string = r.json.data.restore_id;
    firstRestore.id = id;
    expect(id).toMatch(/^rstr_/);
    expect(r.json.data).toMatchObject({ id, status: 'pending', target_kind: 'time', target_time: new Date(target).toISOString(), mode: 'stopped', backup_id: backup.id, connection_uri: null });
    // A retry with the same key gets the same answer, and starts nothing.
    const again = await fx.call('POST', `${base}/pitr/restore`, { target_time: target }, { 'idempotency-key': 'rst-1' });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.json.data.restore_id).toBe(id);

    const done = await untilFinished(id);
    expect(done).toMatchObject({ id, status: 'completed', error: null });
    expect(done.wal_files_applied).toBeGreaterThan(0);
    // In the project's own directory under the restore root, never beside the daemon's state.
    expect(done.target_dir).toMatch(new RegExp(`^${fx.daemon.restores.root}/projects/proj_[a-z0-9]+/main-restore-`));
    firstRestore.dir = done.target_dir;
    expect(existsSync(`${done.target_dir}/postmaster.pid`)).toBe(false);

    const restored = await startPostgres({ dataDir: done.target_dir, password: PASSWORD });
    try {
      expect((await restored.query<{ id: number }>('SELECT id FROM marker ORDER BY id')).map((x) => x.id)).toEqual([1, 2]);
    } finally {
      await restored.destroy();
    }
  }, 240_000);

  it('restores to an LSN, a restore point and a transaction id, each left running', async () => {
    for (const [body, expected] of [
      [{ target_lsn: lsnAfter2 }, [1, 2]],
      [{ target_name: 'after_row_3' }, [1, 2, 3]],
      [{ target_xid: rows[0]!.xid }, [1]],
      [{ target_xid: Number(rows[1]!.xid), inclusive: false }, [1]],
    ] as const) {
      const r = await fx.call('POST', `${base}/pitr/restore`, { ...body, mode: 'running' });
      expect(r.status, JSON.stringify(r.json)).toBe(202);
      const done = await untilFinished(r.json.data.restore_id);
      expect(done, JSON.stringify(body)).toMatchObject({ status: 'completed', mode: 'running' });
      expect(await markerIds(done.connection_uri), JSON.stringify(body)).toEqual(expected);
    }
    const kinds = (await fx.call('GET', `${base}/pitr/restores?limit=4`)).json.data.restores.map((x: { target_kind: string; target_lsn: string | null; target_name: string | null; target_xid: string | null }) => [x.target_kind, x.target_lsn ?? x.target_name ?? x.target_xid]);
    expect(kinds).toEqual([
      ['xid', rows[1]!.xid],
      ['xid', rows[0]!.xid],
      ['name', 'after_row_3'],
      ['lsn', lsnAfter2],
    ]);
  }, 240_000);

  it('refuses a target before the recovery window with TARGET_TIME_INVALID and records nothing', async () => {
    const before = (await fx.call('GET', `${base}/pitr/restores`)).json.data.total_count;
    const early = new Date(Date.parse(backup.stop_time) - 3600_000).toISOString();
    const r = await fx.call('POST', `${base}/pitr/restore`, { target_time: early, target_dir: 'too-early' });
    expect(r.status).toBe(422);
    expect(r.json.error.code).toBe('TARGET_TIME_INVALID');
    expect(r.json.error.message).toContain(early);
    expect(existsSync(join(dirname(firstRestore.dir!), 'too-early'))).toBe(false);
    expect((await fx.call('GET', `${base}/pitr/restores`)).json.data.total_count).toBe(before);
    // An existing, non-empty target directory is refused too.
    const busy = await fx.call('POST', `${base}/pitr/restore`, { target: 'latest', target_dir: basename(firstRestore.dir!) });
    expect(busy.status).toBe(409);
    expect(busy.json.error.code).toBe('TARGET_DIR_NOT_EMPTY');
    // Two requests naming one new directory at once: one restores into it, the other is refused.
    const both = await Promise.all([0, 1].map(() => fx.call('POST', `${base}/pitr/restore`, { target: 'latest', target_dir: 'same' })));
    expect(both.map((x) => x.status).sort()).toEqual([202, 409]);
    expect(['CONFLICT', 'TARGET_DIR_NOT_EMPTY']).toContain(both.find((x) => x.status === 409)!.json.error.code);
    const winner = both.find((x) => x.status === 202)!.json.data;
    expect((await untilFinished(winner.restore_id)).status).toBe('completed');
  }, 240_000);

  it('restores a backup (no body: its consistency point) left running, with a connection URI', async () => {
    const r = await fx.call('POST', `${base}/backups/${backup.id}/restore`);
    expect(r.status).toBe(202);
    expect(r.json.data).toMatchObject({ target_kind: 'immediate', backup_id: backup.id, mode: 'stopped' });
    expect((await untilFinished(r.json.data.restore_id)).status).toBe('completed');

    const run = await fx.call('POST', `${base}/backups/${backup.id}/restore`, { mode: 'running', target_name: 'no-such-point' });
    expect(run.status).toBe(422);
    expect(run.json.error.code).toBe('TARGET_TIME_INVALID');

    const live = await fx.call('POST', `${base}/backups/${backup.id}/restore`, { mode: 'running' });
    expect(live.status).toBe(202);
    const done = await untilFinished(live.json.data.restore_id);
    expect(done.status).toBe('completed');
    expect(done.connection_uri).toMatch(/^postgresql:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
    // The backup was taken before any marker row.
    expect(await markerIds(done.connection_uri)).toEqual([]);
  }, 240_000);

  it('lists restores newest first with cursor pages', async () => {
    const all = (await fx.call('GET', `${base}/pitr/restores?limit=1000`)).json.data;
    expect(all.total_count).toBe(8);
    expect(all.next_cursor).toBeNull();
    const started = all.restores.map((x: { started_at: string }) => Date.parse(x.started_at));
    expect([...started].sort((a, b) => b - a)).toEqual(started);
    const paged: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { json: any } = await fx.call('GET', `${base}/pitr/restores?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      paged.push(...page.json.data.restores.map((x: { id: string }) => x.id));
      cursor = page.json.data.next_cursor;
    } while (cursor);
    expect(paged).toEqual(all.restores.map((x: { id: string }) => x.id));
    expect((await fx.call('GET', `${base}/pitr/restores/rstr_20200101T000000Z_deadbeef`)).json.error.code).toBe('RESTORE_NOT_FOUND');
  });

  it('a daemon shutdown records a running restore as interrupted and stops restored servers', async () => {
    const live = (await fx.call('GET', `${base}/pitr/restores?limit=1000`)).json.data.restores.find((x: { connection_uri: string | null }) => x.connection_uri !== null);
    expect(live).toBeDefined();
    const r = await fx.call('POST', `${base}/pitr/restore`, { target: 'latest' });
    expect(r.status).toBe(202);
    const id: string = r.json.data.restore_id;
    await fx.restart();
    // Idempotency records live in the repository: a retry after the restart replays the first answer.
    const retry = await fx.call('POST', `${base}/pitr/restore`, { target_time: firstRestore.target }, { 'idempotency-key': 'rst-1' });
    expect(retry.status).toBe(202);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(retry.json.data.restore_id).toBe(firstRestore.id);
    const after = (await fx.call('GET', `${base}/pitr/restores/${id}`)).json.data;
    expect(after).toMatchObject({ id, status: 'interrupted' });
    expect(after.error).toContain('interrupted');
    expect(existsSync(after.target_dir)).toBe(false);
    // The server of the 'running' restore is down; its data directory is kept.
    const stopped = (await fx.call('GET', `${base}/pitr/restores/${live.id}`)).json.data;
    expect(stopped).toMatchObject({ status: 'completed', connection_uri: null });
    expect(existsSync(`${stopped.target_dir}/postmaster.pid`)).toBe(false);
    expect(existsSync(`${stopped.target_dir}/PG_VERSION`)).toBe(true);
    await expect(markerIds(live.connection_uri)).rejects.toThrow(/ECONNREFUSED/);
  }, 240_000);

  it('after a daemon crash a restored server left running is stopped by the next start', async () => {
    const live = await fx.call('POST', `${base}/backups/${backup.id}/restore`, { mode: 'running' });
    expect(live.status).toBe(202);
    const done = await untilFinished(live.json.data.restore_id);
    expect(await markerIds(done.connection_uri)).toEqual([]);
    const workDir = (JSON.parse(readFileSync(join(fx.daemon.restores.root, '.pitrd', 'running-restores.json'), 'utf8')) as Array<{ dir: string; work_dir: string }>).find((x) => x.dir === done.target_dir)!.work_dir;
    expect(existsSync(`${workDir}/postgres.log`)).toBe(true);
    // A crash: the daemon goes away without stopping its restores.
    fx.daemon.restores.stop = async () => undefined;
    await fx.restart();
    expect(fx.logs.some((l) => l.includes('stopped the server of a restore a previous daemon left running') && l.includes(done.target_dir))).toBe(true);
    await expect(markerIds(done.connection_uri)).rejects.toThrow(/ECONNREFUSED/);
    expect(existsSync(`${done.target_dir}/PG_VERSION`)).toBe(true);
    // The work directory runRestore left for the server (log, socket) went with it.
    expect(existsSync(workDir)).toBe(false);
  }, 240_000);
});
