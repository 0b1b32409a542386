/**
 * Health alerts end to end: a real PostgreSQL 15 (1 MB segments), the daemon in-process with its
 * real receiver streaming into an fs repository, and a real HTTP server as the alert webhook.
 * Each alert must show in all three places — GET .../health, /metrics, the webhook — when raised
 * and again when cleared:
 * - slot_retention: the replication role loses REPLICATION and its walsender is terminated, so
 *   the slot holds while WAL is generated; giving it back lets the receiver catch up.
 * - archive_gap: one archived segment object is deleted from the repository; putting it back
 *   closes the gap.
 */
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectSlotName } from '../../src/postgres/index.js';
import { cleanUp, startPostgres, type PgCluster } from '../harness/index.js';
import { startDaemonFixture, waitFor, type DaemonFixture } from './daemon-fixture.js';

const MiB = 1024 * 1024;
const THRESHOLD = 4 * MiB;
const ROLE = 'pitrd_alerts';
const ROLE_PW = 'Alerts-role-pw-7';
const DB = 'main';
/** The slot of a database registered through the API is per project (projectSlotName). */
let SLOT = '';

interface HookBody {
  event: 'alert.raised' | 'alert.cleared';
  at: string;
  alert: { key: string; kind: string; database: string; severity: string; message: string; since: string; details?: Record<string, unknown> };
}

let pg: PgCluster;
let fx: DaemonFixture;
let hook: Server;
const hooks: HookBody[] = [];
let base = '';

beforeAll(async () => {
  pg = await startPostgres({ walSegmentSizeMB: 1 });
  await pg.query(`CREATE ROLE ${ROLE} LOGIN REPLICATION PASSWORD '${ROLE_PW}'`);
  await pg.query('CREATE TABLE filler (id serial PRIMARY KEY, v text)');
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
    {},
    {
      schedules: false,
      alertWebhookUrl: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/pitrd-alerts`,
      // Continuous evaluation, fast enough for a test; the webhook hears about changes with no API call.
      healthIntervalMs: 300,
      summaryIntervalMs: 300,
      healthThresholds: { slotRetainedBytes: THRESHOLD, uploadBacklogBytes: 1024 * MiB, backupMaxAgeMs: 365 * 86_400_000 },
    },
  );
  const projectId = (await fx.call('POST', '/projects', { name: 'alerts' })).json.data.id as string;
  base = `/projects/${projectId}/databases`;
  SLOT = projectSlotName(projectId, DB);
  const reg = await fx.call('POST', base, { name: DB, host: '127.0.0.1', port: pg.port, user: ROLE, password: ROLE_PW, dbname: 'postgres', sslmode: 'disable' });
  expect(reg.status).toBe(201);
  expect((await fx.call('POST', `${base}/${DB}/pitr/enable`, { retention_days: 7 })).status).toBe(200);
  await waitFor('receiver running', async () => (await fx.call('GET', `${base}/${DB}/pitr/receiver-status`)).json.data?.status === 'running');
  await generateWal(4);
  await waitFor('4 segments archived', async () => (await fx.call('GET', `${base}/${DB}/pitr/receiver-status`)).json.data.segments_archived >= 4);
}, 120_000);

afterAll(() =>
  cleanUp(
    () => fx?.close(),
    () => new Promise<void>((r) => (hook ? hook.close(() => r()) : r())),
    () => pg?.destroy(),
  ), 60_000);

/** About one segment of WAL per round, each closed by a switch. */
async function generateWal(rounds: number): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    await pg.query("INSERT INTO filler (v) SELECT repeat('w', 200) FROM generate_series(1, 3000)");
    await pg.query('SELECT pg_switch_wal()');
  }
}

const escape = (s: string) => s.replace(/[{}()[\]|.*+?^$\\]/g, '\\$&');

/** A gauge's value for exact labels, or null when the series is absent. */
async function gauge(name: string, labels: string): Promise<number | null> {
  const m = await fx.call('GET', '/metrics');
  expect(m.status).toBe(200);
  const hit = new RegExp(`^${escape(name)}${escape(labels)} (\\S+)$`, 'm').exec(m.text);
  return hit ? Number(hit[1]) : null;
}

async function health(): Promise<{ healthy: boolean; alerts: Array<{ kind: string; severity: string; message: string; since: string }> }> {
  const h = await fx.call('GET', `${base}/${DB}/health`);
  expect(h.status).toBe(200);
  return h.json.data;
}

const hooksFor = (kind: string, event: HookBody['event']) => hooks.filter((h) => h.alert.database === DB && h.alert.kind === kind && h.event === event);

const dbLabels = () => `{project="${base.split('/')[2]}",database="${DB}"}`;

describe('slot retention alert', () => {
  it('a slot held while WAL is generated raises slot_retention in status, metrics and webhook; catching up clears it', async () => {
    // Streaming normally, the slot follows the receiver: a small retained figure, no alert.
    await waitFor('the slot following the receiver', async () => {
      const v = await gauge('pitrd_slot_retained_bytes', dbLabels());
      return v !== null && v < THRESHOLD && !(await health()).alerts.some((a) => a.kind === 'slot_retention');
    });
    const raisedBefore = hooksFor('slot_retention', 'alert.raised').length;
    const clearedBefore = hooksFor('slot_retention', 'alert.cleared').length;

    // Hold the slot: the receiver can no longer start a walsender, the server keeps the WAL.
    await pg.query(`ALTER ROLE ${ROLE} NOREPLICATION`);
    await pg.query('SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL', [SLOT]);
    await waitFor('slot inactive', async () => (await pg.query<{ active: boolean }>('SELECT active FROM pg_replication_slots WHERE slot_name = $1', [SLOT]))[0]?.active === false);
    await generateWal(6);
    const serverRetained = Number((await pg.query<{ r: string }>('SELECT (pg_current_wal_lsn() - restart_lsn)::bigint::text AS r FROM pg_replication_slots WHERE slot_name = $1', [SLOT]))[0]!.r);
    expect(serverRetained).toBeGreaterThan(THRESHOLD);

    // The background evaluation calls the webhook: no API request is needed for that.
    const raised = await waitFor('slot_retention raised on the webhook', () => hooksFor('slot_retention', 'alert.raised')[raisedBefore]);
    expect(raised.alert).toMatchObject({ key: `${base.split('/')[2]}/${DB}:slot_retention`, severity: 'warning', database: DB });
    expect(raised.alert.message).toContain('replication slot retains');
    expect(raised.alert.message).toContain('threshold 4.0 MiB');
    expect(raised.alert.details).toMatchObject({ threshold_bytes: THRESHOLD });
    expect(raised.alert.details!['retained_bytes'] as number).toBeGreaterThan(THRESHOLD);

    const h = await health();
    expect(h.healthy).toBe(false);
    const alert = h.alerts.find((a) => a.kind === 'slot_retention');
    expect(alert).toMatchObject({ severity: 'warning', since: raised.alert.since });
    expect(alert!.message).toContain('replication slot retains');
    // The receiver that cannot connect is its own alert.
    expect(h.alerts.map((a) => a.kind)).toContain('receiver_down');

    expect(await gauge('pitrd_alert_active', `{project="${base.split('/')[2]}",database="${DB}",kind="slot_retention",severity="warning"}`)).toBe(1);
    expect(await gauge('pitrd_slot_retained_bytes', dbLabels())).toBeGreaterThan(THRESHOLD);
    // Still one raise, however many evaluations ran meanwhile.
    expect(hooksFor('slot_retention', 'alert.raised')).toHaveLength(raisedBefore + 1);

    // Release: the role may replicate again; restart the receiver rather than wait out its backoff.
    await pg.query(`ALTER ROLE ${ROLE} REPLICATION`);
    expect((await fx.call('POST', `${base}/${DB}/pitr/restart-receiver`)).status).toBe(200);
    const cleared = await waitFor('slot_retention cleared on the webhook', () => hooksFor('slot_retention', 'alert.cleared')[clearedBefore], 90_000);
    expect(cleared.alert).toMatchObject({ key: `${base.split('/')[2]}/${DB}:slot_retention`, since: raised.alert.since });
    await waitFor('receiver_down cleared', async () => !(await health()).alerts.some((a) => a.kind === 'receiver_down'));

    expect((await health()).alerts.map((a) => a.kind)).not.toContain('slot_retention');
    expect(await gauge('pitrd_alert_active', `{project="${base.split('/')[2]}",database="${DB}",kind="slot_retention",severity="warning"}`)).toBeNull();
    expect(await gauge('pitrd_slot_retained_bytes', dbLabels())).toBeLessThanOrEqual(THRESHOLD);
    expect(hooksFor('slot_retention', 'alert.raised')).toHaveLength(raisedBefore + 1);
    expect(hooksFor('slot_retention', 'alert.cleared')).toHaveLength(clearedBefore + 1);
    expect(hooksFor('receiver_down', 'alert.cleared').length).toBeGreaterThan(0);
  }, 180_000);
});

describe('archive gap alert', () => {
  it('a segment deleted from the repository raises archive_gap naming it in status, metrics and webhook; restoring it clears it', async () => {
    // Everything the catch-up streamed is archived, and the archive is continuous.
    await generateWal(2);
    await waitFor('upload backlog drained', async () => {
      const s = (await fx.call('GET', `${base}/${DB}/pitr/receiver-status`)).json.data;
      return s.status === 'running' && s.upload_backlog.segments === 0;
    });
    await waitFor('a continuous archive on /metrics', async () => (await gauge('pitrd_archive_gap_segments', dbLabels())) === 0);
    // The receiver uploads in LSN order: a continuous archive never showed a gap.
    expect(hooksFor('archive_gap', 'alert.raised')).toEqual([]);

    const wal = (await fx.call('GET', `${base}/${DB}/pitr/wal?limit=1000`)).json.data.archives as Array<{ filename: string; timeline: number }>;
    expect(wal.length).toBeGreaterThan(8);
    // One from the middle: segments on both sides, so restores from before it cannot pass it.
    const victim = wal[Math.floor(wal.length / 2)]!.filename;
    const dir = join(fx.config.storage.type === 'fs' ? fx.config.storage.path : '', 'projects', base.split('/')[2]!, 'databases', DB, 'wal', victim.slice(0, 8));
    const objects = readdirSync(dir).filter((f) => f.startsWith(victim) && !f.endsWith('.idx'));
    expect(objects).toHaveLength(1);
    const objectPath = join(dir, objects[0]!);
    const saved = readFileSync(objectPath);
    rmSync(objectPath);

    const raised = await waitFor('archive_gap raised on the webhook', () => hooksFor('archive_gap', 'alert.raised')[0]);
    expect(raised.alert).toMatchObject({ key: `${base.split('/')[2]}/${DB}:archive_gap`, severity: 'critical', database: DB });
    expect(raised.alert.message).toContain(`WAL segment ${victim} is missing`);
    expect(raised.alert.details).toEqual({ timeline: 1, missing_from: victim, missing_to: victim, segments_missing: 1, backups: [] });

    const h = await health();
    expect(h.healthy).toBe(false);
    const alert = h.alerts.find((a) => a.kind === 'archive_gap');
    expect(alert).toMatchObject({ severity: 'critical', since: raised.alert.since });
    expect(alert!.message).toContain(victim);
    expect(await gauge('pitrd_archive_gap_segments', dbLabels())).toBe(1);
    expect(await gauge('pitrd_alert_active', `{project="${base.split('/')[2]}",database="${DB}",kind="archive_gap",severity="critical"}`)).toBe(1);

    // The lost object comes back (e.g. from another copy): the gap closes.
    writeFileSync(objectPath, saved);
    const cleared = await waitFor('archive_gap cleared on the webhook', () => hooksFor('archive_gap', 'alert.cleared')[0]);
    expect(cleared.alert).toMatchObject({ key: `${base.split('/')[2]}/${DB}:archive_gap`, since: raised.alert.since });
    expect((await health()).alerts.map((a) => a.kind)).not.toContain('archive_gap');
    expect(await gauge('pitrd_archive_gap_segments', dbLabels())).toBe(0);
    expect(await gauge('pitrd_alert_active', `{project="${base.split('/')[2]}",database="${DB}",kind="archive_gap",severity="critical"}`)).toBeNull();
    expect(hooksFor('archive_gap', 'alert.raised')).toHaveLength(1);
    expect(hooksFor('archive_gap', 'alert.cleared')).toHaveLength(1);
  }, 180_000);
});
