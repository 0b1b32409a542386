/**
 * The daemon end to end, through HTTP only: a real PostgreSQL 15 (1 MB WAL segments), an fs
 * repository, the daemon in-process. Register a database, enable PITR, archive WAL, page through
 * the archive, restart the receiver, disable, restart the daemon, delete with its data.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectSlotName } from '../../src/postgres/index.js';
import { cleanUp, startPostgres, type PgCluster } from '../harness/index.js';
import { startDaemonFixture, waitFor, type DaemonFixture } from './daemon-fixture.js';

const PASSWORD = 'Zq9-daemon-Secret-pw';
let pg: PgCluster;
let fx: DaemonFixture;
let projectId: string;
let dbUrl: string;

beforeAll(async () => {
  pg = await startPostgres({ walSegmentSizeMB: 1, password: PASSWORD });
  fx = await startDaemonFixture();
}, 60_000);

afterAll(() => cleanUp(() => fx?.close(), () => pg?.destroy()), 60_000);

async function switchWal(times: number): Promise<void> {
  await pg.query('CREATE TABLE IF NOT EXISTS t (id serial primary key, v text)');
  for (let i = 0; i < times; i++) {
    await pg.query("INSERT INTO t (v) SELECT repeat('x', 100) FROM generate_series(1, 500)");
    await pg.query('SELECT pg_switch_wal()');
  }
}

describe('pitrd daemon over HTTP', () => {
  it('creates a project and registers a database (idempotent, CONFLICT on a duplicate name)', async () => {
    const p = await fx.call('POST', '/projects', { name: 'app' });
    expect(p.status).toBe(201);
    projectId = p.json.data.id;
    dbUrl = `/projects/${projectId}/databases`;

    const input = { name: 'main', host: '127.0.0.1', port: pg.port, user: 'postgres', password: PASSWORD, dbname: 'postgres', sslmode: 'disable' };
    const first = await fx.call('POST', dbUrl, input, { 'idempotency-key': 'reg-1' });
    expect(first.status).toBe(201);
    expect(first.json.data).toMatchObject({ name: 'main', project_id: projectId, source: 'api', host: '127.0.0.1', port: pg.port, user: 'postgres', database: 'postgres', pitr_enabled: false, status: 'disabled' });
    const replay = await fx.call('POST', dbUrl, input, { 'idempotency-key': 'reg-1' });
    expect(replay.status).toBe(201);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.json).toEqual(first.json);
    const dup = await fx.call('POST', dbUrl, input);
    expect(dup.status).toBe(409);
    expect(dup.json.error.code).toBe('CONFLICT');

    const list = await fx.call('GET', dbUrl);
    expect(list.json.data.databases.map((d: { name: string }) => d.name)).toEqual(['main']);
    expect(list.json.data.next_cursor).toBeNull();

    const url = await fx.call('GET', `${dbUrl}/main/url`);
    expect(url.json.data).toEqual({
      host: '127.0.0.1',
      port: pg.port,
      database: 'postgres',
      user: 'postgres',
      sslmode: 'disable',
      connection_string: `postgresql://postgres@127.0.0.1:${pg.port}/postgres?sslmode=disable`,
    });
    // Registering a project's database stops the project from being deleted.
    const del = await fx.call('DELETE', `/projects/${projectId}`);
    expect(del.json.error.code).toBe('CONFLICT');
  });

  it('receiver-status is PITR_NOT_ENABLED until PITR is enabled', async () => {
    const r = await fx.call('GET', `${dbUrl}/main/pitr/receiver-status`);
    expect(r.status).toBe(409);
    expect(r.json.error.code).toBe('PITR_NOT_ENABLED');
    const c = await fx.call('GET', `${dbUrl}/main/pitr/config`);
    expect(c.json.data).toMatchObject({ enabled: false, wal_receiver_status: 'disabled' });
  });

  it('enable streams WAL into the repository; the archive pages with totals', async () => {
    const en = await fx.call('POST', `${dbUrl}/main/pitr/enable`, { retention_days: 3 });
    expect(en.status).toBe(200);
    expect(en.json.data).toMatchObject({ enabled: true, retention_days: 3 });
    await waitFor('receiver running', async () => (await fx.call('GET', `${dbUrl}/main/pitr/receiver-status`)).json.data?.status === 'running');
    await switchWal(4);
    const target = (await pg.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn'))[0]!.lsn;
    const st = await waitFor('4 segments archived', async () => {
      const s = (await fx.call('GET', `${dbUrl}/main/pitr/receiver-status`)).json.data;
      return s.segments_archived >= 4 ? s : null;
    });
    expect(st.status).toBe('running');
    expect(st.bytes_received).toBeGreaterThan(0);
    expect(st.last_wal_file).toMatch(/^[0-9A-F]{24}$/);
    expect(target).toMatch(/\//);

    const all = await fx.call('GET', `${dbUrl}/main/pitr/wal?limit=1000`);
    const total = all.json.data.total_count as number;
    expect(total).toBeGreaterThanOrEqual(4);
    expect(all.json.data.archives).toHaveLength(total);
    expect(all.json.data.total_size_bytes).toBe(total * 1024 * 1024);
    expect(all.json.data.next_cursor).toBeNull();

    // Page two at a time: same segments, same order, nothing repeated or skipped.
    const paged: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { json: any } = await fx.call('GET', `${dbUrl}/main/pitr/wal?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.json.data.archives.length).toBeLessThanOrEqual(2);
      expect(page.json.data.total_count).toBe(total);
      paged.push(...page.json.data.archives.map((a: { filename: string }) => a.filename));
      cursor = page.json.data.next_cursor;
    } while (cursor);
    const names = all.json.data.archives.map((a: { filename: string }) => a.filename);
    expect(paged).toEqual(names);
    expect([...names].sort()).toEqual(names);
    for (const a of all.json.data.archives) {
      expect(a.size_bytes).toBe(1024 * 1024);
      expect(Number.isNaN(Date.parse(a.archived_at))).toBe(false);
    }
  });

  it('/metrics exposes the receiver series, process and runtime series, by Prometheus conventions', async () => {
    const m = await fx.call('GET', '/metrics');
    expect(m.status).toBe(200);
    const labels = `{project="${projectId}",database="main"}`;
    for (const name of ['pitrd_receiver_received_bytes_total', 'pitrd_receiver_flushed_lsn', 'pitrd_receiver_uploaded_lsn', 'pitrd_receiver_lag_seconds', 'pitrd_receiver_upload_backlog_segments', 'pitrd_receiver_errors_total', 'pitrd_receiver_segments_archived_total']) {
      expect(m.text).toMatch(new RegExp(`^${name}${labels.replace(/[{}]/g, '\\$&')} [0-9.e+]+$`, 'm'));
    }
    // Counters end in _total and are typed counter; nothing else ends in _total.
    const types = [...m.text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((x) => ({ name: x[1]!, type: x[2]! }));
    expect(types.length).toBeGreaterThan(20);
    for (const t of types) expect(`${t.name} ${t.type}`).toBe(`${t.name} ${t.name.endsWith('_total') ? 'counter' : t.type === 'counter' ? 'counter (named _total)' : t.type}`);
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_start_time_seconds', 'process_open_fds', 'nodejs_heap_size_used_bytes', 'nodejs_external_memory_bytes']) {
      expect(m.text).toMatch(new RegExp(`^${name} [0-9.e+]+$`, 'm'));
    }
    expect(m.text).toMatch(/^pitrd_build_info\{version="[^"]+",nodejs_version="[^"]+"\} 1$/m);
    // Every alert series names its project and its database.
    for (const line of m.text.split('\n').filter((l) => l.startsWith('pitrd_alert_active{'))) expect(line).toMatch(/project="[^"]+",database="[^"]+"/);
    const flushed = Number(new RegExp(`^pitrd_receiver_flushed_lsn\\{[^}]*\\} ([0-9.e+]+)$`, 'm').exec(m.text)![1]);
    expect(flushed).toBeGreaterThan(4 * 1024 * 1024);
  });

  it('restart-receiver starts a new session that keeps archiving', async () => {
    const before = (await fx.call('GET', `${dbUrl}/main/pitr/receiver-status`)).json.data;
    const r = await fx.call('POST', `${dbUrl}/main/pitr/restart-receiver`);
    expect(r.status).toBe(200);
    await waitFor('a second session', async () => {
      const s = (await fx.call('GET', `${dbUrl}/main/pitr/receiver-status`)).json.data;
      return s.attempts > before.attempts && s.status === 'running';
    });
    await switchWal(1);
    await waitFor('one more segment', async () => (await fx.call('GET', `${dbUrl}/main/pitr/wal`)).json.data.total_count > before.segments_archived);
  });

  it('disable stops the receiver; the registration survives a daemon restart', async () => {
    const d = await fx.call('POST', `${dbUrl}/main/pitr/disable`);
    expect(d.status).toBe(200);
    expect(d.json.data).toMatchObject({ enabled: false, wal_receiver_status: 'disabled' });
    expect((await fx.call('GET', `${dbUrl}/main/pitr/receiver-status`)).json.error.code).toBe('PITR_NOT_ENABLED');
    expect(fx.logs.some((l) => l.includes('"receiver stopped"') && l.includes('"database":"main"'))).toBe(true);
    // A stopped receiver's series leave /metrics rather than showing stale positions.
    expect((await fx.call('GET', '/metrics')).text).not.toContain('pitrd_receiver_flushed_lsn{');

    await fx.restart();
    const got = await fx.call('GET', `${dbUrl}/main`);
    expect(got.status).toBe(200);
    expect(got.json.data).toMatchObject({ name: 'main', pitr_enabled: false, status: 'disabled' });
    const cfg = await fx.call('GET', `${dbUrl}/main/pitr/config`);
    expect(cfg.json.data).toMatchObject({ enabled: false, retention_days: 3 });
    // The archive written before the restart is still listed.
    expect((await fx.call('GET', `${dbUrl}/main/pitr/wal`)).json.data.total_count).toBeGreaterThanOrEqual(5);
  });

  it('a database enabled before a restart streams again after it', async () => {
    expect((await fx.call('POST', `${dbUrl}/main/pitr/enable`, {})).status).toBe(200);
    await fx.restart();
    await waitFor('receiver running after restart', async () => (await fx.call('GET', `${dbUrl}/main/pitr/receiver-status`)).json.data?.status === 'running');
  });

  it('delete with delete_data removes the registration, the slot and the repository data', async () => {
    const repoDb = join(fx.config.storage.type === 'fs' ? fx.config.storage.path : '', 'projects', projectId, 'databases', 'main');
    expect(existsSync(repoDb)).toBe(true);
    const del = await fx.call('DELETE', `${dbUrl}/main?delete_data=true`);
    expect(del.status).toBe(200);
    expect(del.json.data).toMatchObject({ name: 'main', deleted: true, data_deleted: true });
    expect(del.json.data.objects_deleted).toBeGreaterThan(5);
    expect((await fx.call('GET', `${dbUrl}/main`)).json.error.code).toBe('DATABASE_NOT_FOUND');
    expect(await pg.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [projectSlotName(projectId, 'main')])).toEqual([]);
    const left = existsSync(repoDb) ? readdirSync(repoDb, { recursive: true }).filter((f) => !String(f).endsWith('/')) : [];
    expect(left.filter((f) => /\.(json|gz)$/.test(String(f)) || /[0-9A-F]{24}/.test(String(f)))).toEqual([]);
    await fx.restart();
    expect((await fx.call('GET', `${dbUrl}/main`)).json.error.code).toBe('DATABASE_NOT_FOUND');
    // The project can go now.
    expect((await fx.call('DELETE', `/projects/${projectId}`)).status).toBe(200);
  });

  it('the password never appears in a response or a log line', () => {
    expect(fx.bodies.length).toBeGreaterThan(20);
    for (const b of fx.bodies) expect(b).not.toContain(PASSWORD);
    expect(fx.logs.length).toBeGreaterThan(10);
    for (const l of fx.logs) expect(l).not.toContain(PASSWORD);
  });
});
