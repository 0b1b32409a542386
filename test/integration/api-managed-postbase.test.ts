/**
 * Managed instances through Postbase's own example flow (shared/seeds/004), against the real
 * daemon (fs repository, PostgreSQL 15 binaries): provision a database with
 * `{name, region, config}` (status provisioning, then running), its connection URL with the
 * generated password, enable PITR, backups, restore to a time, restore status; the instance
 * survives a daemon restart; bad input changes nothing; deleting it stops the server and
 * removes its data directory.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanUp } from '../harness/index.js';
import { queryUri, startDaemonFixture, waitFor, type DaemonFixture } from './daemon-fixture.js';

let fx: DaemonFixture;
let project: string;
let base: string;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- route JSON, asserted field by field
async function untilStatus(path: string, want: string, timeoutMs = 180_000): Promise<any> {
  let failed: string | null = null;
  const d = await waitFor(`${path} ${want}`, async () => {
    const v = (await fx.call('GET', path)).json.data;
    if (v.status === 'failed') failed = `${path} failed: ${v.error}\n${fx.logs.filter((l) => l.includes('"level":50') || l.includes('"level":40')).join('')}`;
    return v.status === want || failed !== null ? v : null;
  }, timeoutMs, 200);
  if (failed !== null) throw new Error(failed);
  return d;
}

/** As the instance's superuser on its socket (the test runs as root, as the daemon does): WAL switches. */
async function superSql(text: string): Promise<void> {
  const stateDir = join(fx.dir, 'restores', '.pitrd', 'instances');
  const st = JSON.parse(readFileSync(join(stateDir, readdirSync(stateDir)[0]!), 'utf8'));
  const c = new pg.Client({ host: join(st.data_dir, '..', 'run'), port: st.port, user: 'postgres', database: 'postgres' });
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

const sql = (uri: string, text: string) => {
  const u = new URL(uri);
  return queryUri<Record<string, unknown>>(uri, decodeURIComponent(u.password), text);
};

beforeAll(async () => {
  fx = await startDaemonFixture({}, { schedules: false, summaryIntervalMs: 500 });
  project = (await fx.call('POST', '/projects', { name: 'myapp' })).json.data.id;
  base = `/projects/${project}/databases`;
}, 120_000);

afterAll(() => cleanUp(() => fx?.close()), 120_000);

describe('Postbase: a provisioned (managed) database', () => {
  let uri: string;
  let dataDir: string;

  it('GET /auth/me names the token, its project scope and tier', async () => {
    const me = await fx.call('GET', '/auth/me');
    expect(me.status).toBe(200);
    expect(me.json.data).toMatchObject({ name: 'admin', login: 'admin', projects: ['*'], tier: 'pro' });
    expect(me.json.data.id).toMatch(/^[0-9a-f]{12}$/);
    expect((await fx.call('GET', '/auth/me', undefined, {}, null)).json.error.code).toBe('AUTH_REQUIRED');
  });

  it('refuses bad input precisely and creates nothing', async () => {
    const cases: Array<[unknown, string]> = [
      [{ name: 'x', config: { cpu: 'two' } }, 'body.config.cpu'],
      [{ name: 'x', port: 5432 }, 'body.port: only with body.host'],
      [{ name: 'x', host: 'db.example', config: { cpu: 2 } }, 'body.config: only without body.host'],
      [{ name: 'x', postgres_version: '12' }, 'body.postgres_version'],
      [{ name: 'x', region: 7 }, 'body.region'],
    ];
    for (const [body, msg] of cases) {
      const r = await fx.call('POST', base, body);
      expect(r.status, JSON.stringify(body)).toBeGreaterThanOrEqual(400);
      expect(r.status).toBeLessThan(500);
      expect(r.json.error.message).toContain(msg);
    }
    expect((await fx.call('GET', base)).json.data.databases).toEqual([]);
  });

  it('provisions: 201 provisioning, then running, with a connection URL carrying the generated password', async () => {
    const r = await fx.call('POST', base, { name: 'production', region: 'us-west1', config: { cpu: 2, memory: 4096, storage: 50 } }, { 'idempotency-key': 'prov-1' });
    expect(r.status).toBe(201);
    expect(r.json.data).toMatchObject({ name: 'production', region: 'us-west1', status: 'provisioning', managed: true });
    expect(r.json.data.id).toMatch(/^db_/);
    const early = await fx.call('GET', `${base}/production/url`);
    if (early.status !== 200) expect(early.json.error.code).toBe('CONFLICT');
    const dup = await fx.call('POST', base, { name: 'production' });
    expect(dup.json.error.code).toBe('CONFLICT');

    const db = await untilStatus(`${base}/production`, 'running');
    expect(db).toMatchObject({ region: 'us-west1', pitr_enabled: true, managed: true, user: 'app', database: 'app', host: '127.0.0.1' });
    const url = (await fx.call('GET', `${base}/production/url`)).json.data;
    expect(url).toMatchObject({ host: '127.0.0.1', port: db.port, database: 'app', user: 'app' });
    expect(url.connection_string).toMatch(/^postgresql:\/\/app:[A-Za-z0-9_-]{43}@127\.0\.0\.1:\d+\/app\?sslmode=disable$/);
    uri = url.connection_string;
    const password = decodeURIComponent(new URL(uri).password);
    // The password is a secret: never in the daemon's log; its state file is root's only.
    expect(fx.logs.join('').includes(password)).toBe(false);
    const stateDir = join(fx.dir, 'restores', '.pitrd', 'instances');
    const [stateFile] = readdirSync(stateDir);
    expect(statSync(join(stateDir, stateFile!)).mode & 0o077).toBe(0);
    dataDir = JSON.parse(readFileSync(join(stateDir, stateFile!), 'utf8')).data_dir;
    expect(existsSync(join(dataDir, 'PG_VERSION'))).toBe(true);
    // The client's role is not a superuser; its database is its own.
    const [me] = await sql(uri, 'SELECT current_user AS u, usesuper FROM pg_user WHERE usename = current_user');
    expect(me).toEqual({ u: 'app', usesuper: false });
    // A first base backup is there before it says running.
    const backups = (await fx.call('GET', `${base}/production/backups`)).json.data.backups;
    expect(backups.map((b: { status: string }) => b.status)).toEqual(['completed']);
    // The idempotent retry answers the first response.
    const again = await fx.call('POST', base, { name: 'production', region: 'us-west1', config: { cpu: 2, memory: 4096, storage: 50 } }, { 'idempotency-key': 'prov-1' });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.json.data.status).toBe('provisioning');
  }, 240_000);

  it('follows the Postbase flow: enable PITR, backups, restore to a time, restore status', async () => {
    await sql(uri, 'CREATE TABLE marker (id int PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())');
    await sql(uri, 'INSERT INTO marker (id) VALUES (1)');
    const enabled = await fx.call('POST', `${base}/production/pitr/enable`, { retention_days: 7 });
    expect(enabled.status).toBe(200);
    expect(enabled.json.data).toMatchObject({ enabled: true });
    const b = await fx.call('POST', `${base}/production/backups`);
    expect(b.status).toBe(202);
    await untilStatus(`${base}/production/backups/${b.json.data.id}`, 'completed');
    await sleep(300);
    const between = new Date().toISOString();
    await sleep(300);
    await sql(uri, 'INSERT INTO marker (id) VALUES (2)');
    await superSql('SELECT pg_switch_wal()');
    await waitFor('a recovery window past the second row', async () => {
      const w = (await fx.call('GET', `${base}/production/pitr/recovery-window`)).json.data;
      return w.status === 'ok' && Date.parse(w.to) > Date.parse(between) + 300;
    }, 120_000, 250);
    const r = await fx.call('POST', `${base}/production/pitr/restore`, { target_time: between, mode: 'running' });
    expect(r.status).toBe(202);
    expect(r.json.data.status).toBe('pending');
    expect(r.json.data.restore_id).toMatch(/^rstr_/);
    const done = await untilStatus(`${base}/production/pitr/restores/${r.json.data.restore_id}`, 'completed');
    expect(done.target_time).toBe(between);
    // The restored copy keeps the source's roles: app's password opens it too.
    const restored = `postgresql://app@127.0.0.1:${new URL(done.connection_uri).port}/app`;
    const rows = await queryUri<{ id: number }>(restored, decodeURIComponent(new URL(uri).password), 'SELECT id FROM marker ORDER BY id');
    expect(rows.map((x) => x.id)).toEqual([1]);
    expect((await fx.call('DELETE', `${base}/production/pitr/restores/${r.json.data.restore_id}`)).status).toBe(200);
    const st = (await fx.call('GET', `${base}/production/pitr/receiver-status`)).json.data;
    expect(st.status).toBe('running');
  }, 300_000);

  it('survives a daemon restart: the server starts again on its port, streaming resumes', async () => {
    const before = (await fx.call('GET', `${base}/production`)).json.data;
    await fx.restart();
    const after = await untilStatus(`${base}/production`, 'running');
    expect(after.port).toBe(before.port);
    expect((await sql(uri, 'SELECT count(*)::int AS n FROM marker'))[0]).toEqual({ n: 2 });
    await waitFor('receiver running', async () => (await fx.call('GET', `${base}/production/pitr/receiver-status`)).json.data?.status === 'running');
  }, 240_000);

  it('deletes it: server stopped, data directory removed, backups kept in the repository', async () => {
    const del = await fx.call('DELETE', `${base}/production`);
    expect(del.status).toBe(200);
    expect(existsSync(dataDir)).toBe(false);
    await expect(sql(uri, 'SELECT 1')).rejects.toThrow(/ECONNREFUSED/);
    expect((await fx.call('GET', `${base}/production`)).json.error.code).toBe('DATABASE_NOT_FOUND');
    expect(existsSync(join(fx.dir, 'repo', 'projects', project, 'databases', 'production'))).toBe(true);
  }, 120_000);
});
