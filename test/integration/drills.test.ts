/**
 * Restore drills end to end: a real PostgreSQL 15 source (1 MB segments) in the configuration
 * file with a drill_schedule and a check query, the daemon in-process streaming into an fs
 * repository, a real HTTP server as the alert webhook. One cluster for the whole file.
 * - a drill on a healthy repository succeeds and reports its phases (RTO), the WAL replayed and
 *   its checks (amcheck, row counts, check_sql); its scratch directory is gone; metrics show it;
 * - one corrupted WAL object: the drill fails in replay naming the object's key; drill_failed is
 *   raised (health, webhook); a good drill clears it;
 * - one missing backup object: the drill fails in extract naming the key; raised again.
 */
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanUp, startPostgres, type PgCluster } from '../harness/index.js';
import { startDaemonFixture, waitFor, type DaemonFixture } from './daemon-fixture.js';

const PASSWORD = 'Drill-source-pw-9';
const base = '/projects/default/databases/main';

interface HookBody {
  event: 'alert.raised' | 'alert.cleared';
  alert: { key: string; kind: string; database: string; severity: string; message: string; details?: Record<string, unknown> };
}

let pg: PgCluster;
let fx: DaemonFixture;
let hook: Server;
const hooks: HookBody[] = [];

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- route JSON, asserted field by field
async function drill(expectStatus: 'succeeded' | 'failed'): Promise<any> {
  const r = await fx.call('POST', `${base}/drills`);
  expect(r.status, JSON.stringify(r.json)).toBe(202);
  const id = r.json.data.id as string;
  const d = await waitFor(`drill ${id}`, async () => {
    const v = (await fx.call('GET', `${base}/drills/${id}`)).json.data;
    return v.status === 'running' ? null : v;
  }, 180_000, 200);
  expect(d.status, JSON.stringify(d.failures)).toBe(expectStatus);
  return d;
}

const dbDir = () => join(fx.dir, 'repo', 'projects', 'default', 'databases', 'main');
const hooksFor = (kind: string, event: HookBody['event']) => hooks.filter((h) => h.alert.kind === kind && h.event === event);
async function alerts(): Promise<Array<{ kind: string; severity: string; message: string }>> {
  return (await fx.call('GET', `${base}/health`)).json.data.alerts;
}

beforeAll(async () => {
  pg = await startPostgres({ walSegmentSizeMB: 1, password: PASSWORD });
  await pg.query('CREATE TABLE orders (id serial PRIMARY KEY, customer text NOT NULL, amount int NOT NULL)');
  await pg.query('CREATE INDEX orders_customer ON orders (customer)');
  await pg.query("INSERT INTO orders (customer, amount) SELECT 'c' || (i % 37), i FROM generate_series(1, 5000) i");
  hook = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      hooks.push(JSON.parse(body) as HookBody);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  fx = await startDaemonFixture(
    {
      restores: { min_free_bytes: 0 },
      databases: [
        {
          name: 'main',
          connection: { host: '127.0.0.1', port: pg.port, user: 'postgres', password: PASSWORD, dbname: 'postgres', sslmode: 'disable' },
          // Never due during the test (schedules are off anyway): it makes the age watched.
          drill_schedule: '0 0 1 1 *',
          drill: { check_sql: ['SELECT count(*) >= 5000 FROM orders'], max_age_hours: 24 },
        },
      ],
    },
    { schedules: false, summaryIntervalMs: 300, healthIntervalMs: 300, alertWebhookUrl: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`, healthThresholds: { backupMaxAgeMs: 365 * 86_400_000 } },
  );
  await waitFor('receiver running', async () => (await fx.call('GET', `${base}/pitr/receiver-status`)).json.data?.status === 'running');
  const b = await fx.call('POST', `${base}/backups`);
  expect(b.status).toBe(202);
  await waitFor('backup completed', async () => (await fx.call('GET', `${base}/backups/${b.json.data.id}`)).json.data.status === 'completed', 120_000, 200);
  // WAL after the backup: the drill replays it.
  for (let i = 0; i < 3; i++) {
    await pg.query("INSERT INTO orders (customer, amount) SELECT 'late', i FROM generate_series(1, 3000) i");
    await pg.query('SELECT pg_switch_wal()');
  }
  await waitFor('segments archived', async () => (await fx.call('GET', `${base}/pitr/receiver-status`)).json.data.upload_backlog.segments === 0 && (await fx.call('GET', `${base}/pitr/receiver-status`)).json.data.segments_archived >= 4);
}, 300_000);

afterAll(() =>
  cleanUp(
    () => fx?.close(),
    () => new Promise<void>((r) => (hook ? hook.close(() => r()) : r())),
    () => pg?.destroy(),
  ), 120_000);

describe('restore drills', () => {
  it('a drill on a healthy repository succeeds and reports its RTO phases, the WAL replayed and its checks', async () => {
    // Scheduled with max_age_hours and no drill yet: drill_stale.
    await waitFor('drill_stale raised', async () => (await alerts()).some((a) => a.kind === 'drill_stale'));
    const r = await fx.call('POST', `${base}/drills`);
    expect(r.status, JSON.stringify(r.json)).toBe(202);
    expect(r.json.data).toMatchObject({ status: 'running', trigger: 'api', database: 'main' });
    // One drill at a time on a host.
    const second = await fx.call('POST', `${base}/drills`);
    expect(second.status).toBe(409);
    expect(second.json.error.code).toBe('DRILL_IN_PROGRESS');
    const d = await waitFor('drill finished', async () => {
      const v = (await fx.call('GET', `${base}/drills/${r.json.data.id}`)).json.data;
      return v.status === 'running' ? null : v;
    }, 180_000, 200);
    expect(d.status, JSON.stringify(d.failures)).toBe('succeeded');
    expect(d.failures).toEqual([]);
    expect(d.target).toMatch(/^lsn [0-9A-F]+\/[0-9A-F]+$/);
    for (const p of ['fetch', 'extract', 'replay', 'checks'] as const) expect(d.phases[p], p).toBeGreaterThan(0);
    expect(d.rto_seconds).toBeCloseTo(d.phases.fetch + d.phases.extract + d.phases.replay, 2);
    expect(d.wal.segments).toBeGreaterThanOrEqual(3);
    expect(d.wal.bytes).toBeGreaterThan(2 * 1024 * 1024);
    expect(d.checks).toMatchObject({ sql_checks: 1, amcheck_unavailable: [] });
    expect(d.checks.indexes_checked).toBeGreaterThanOrEqual(2);
    expect(d.checks.table_rows).toContainEqual({ table: 'postgres.public.orders', rows: 14000 });
    console.log(`drill phases (s): ${JSON.stringify(d.phases)}, rto ${d.rto_seconds} s, wal ${JSON.stringify(d.wal)}, checks ${d.checks.indexes_checked} indexes, ${d.checks.tables} tables`);
    // The scratch directory is gone; the restore it ran says so.
    expect(readdirSync(join(fx.daemon.restores.root, 'drills'))).toEqual([]);
    const restore = (await fx.call('GET', `${base}/pitr/restores/${d.restore_id}`)).json.data;
    expect(restore).toMatchObject({ status: 'completed', backup_id: d.backup_id });
    expect(restore.removed_at).not.toBeNull();
    const list = await fx.call('GET', `${base}/drills?limit=1`);
    expect(list.json.data).toMatchObject({ total_count: 1, drills: [{ id: d.id }] });
    const metrics = (await fx.call('GET', '/metrics')).text;
    expect(metrics).toMatch(/^pitrd_drill_last_success_timestamp_seconds\{project="default",database="main"\} \d+/m);
    expect(metrics).toMatch(/^pitrd_drill_duration_seconds\{project="default",database="main",phase="replay"\} [\d.]+/m);
    await waitFor('drill_stale cleared', async () => !(await alerts()).some((a) => a.kind === 'drill_stale'));
    expect(hooksFor('drill_stale', 'alert.cleared')).toHaveLength(1);
  }, 240_000);

  it('a corrupted WAL object fails the drill in replay, names the object, raises drill_failed and fires the webhook; a good drill clears it', async () => {
    const walDir = join(dbDir(), 'wal', '00000001');
    const segs = readdirSync(walDir).filter((f) => /^[0-9A-F]{24}\.gz$/.test(f)).sort();
    // The newest segment the first drill replayed (summarised, so the window covers it).
    const victim = segs[segs.length - 1]!;
    const path = join(walDir, victim);
    const good = readFileSync(path);
    const bad = Buffer.from(good);
    for (let i = 100; i < bad.length - 100; i += 997) bad[i] = bad[i]! ^ 0xff;
    writeFileSync(path, bad);
    try {
      const d = await drill('failed');
      expect(d.failures).toHaveLength(1);
      expect(d.failures[0]).toMatchObject({ phase: 'replay', object: `projects/default/databases/main/wal/00000001/${victim}` });
      expect(d.phases.replay).toBeNull();
      const raised = await waitFor('drill_failed on the webhook', () => hooksFor('drill_failed', 'alert.raised')[0]);
      expect(raised.alert).toMatchObject({ severity: 'critical', database: 'main' });
      expect(raised.alert.details).toMatchObject({ drill_id: d.id, phase: 'replay', object: `projects/default/databases/main/wal/00000001/${victim}` });
      expect((await alerts()).find((a) => a.kind === 'drill_failed')?.message).toContain(victim);
      expect(readdirSync(join(fx.daemon.restores.root, 'drills'))).toEqual([]);
    } finally {
      writeFileSync(path, good);
    }
    await drill('succeeded');
    await waitFor('drill_failed cleared on the webhook', () => hooksFor('drill_failed', 'alert.cleared')[0]);
  }, 400_000);

  it('a missing backup object fails the drill in extract, names the object, raises drill_failed and fires the webhook', async () => {
    const backups = join(dbDir(), 'backups');
    const [backupId] = readdirSync(backups);
    const tar = readdirSync(join(backups, backupId!)).find((f) => f.startsWith('base.tar'))!;
    const path = join(backups, backupId!, tar);
    renameSync(path, `${path}.away`);
    try {
      const d = await drill('failed');
      expect(d.failures[0]).toMatchObject({ phase: 'extract', object: `projects/default/databases/main/backups/${backupId}/${tar}`, code: 'OBJECT_NOT_FOUND' });
      const raised = await waitFor('drill_failed raised again', () => hooksFor('drill_failed', 'alert.raised')[1]);
      expect(raised.alert.details).toMatchObject({ drill_id: d.id, phase: 'extract', object: `projects/default/databases/main/backups/${backupId}/${tar}` });
      expect(existsSync(join(fx.daemon.restores.root, 'drills', d.id))).toBe(false);
    } finally {
      renameSync(`${path}.away`, path);
    }
  }, 300_000);
});
