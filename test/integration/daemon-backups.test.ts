/**
 * Base backups and retention through the daemon's HTTP API: a real PostgreSQL 15 (1 MB WAL
 * segments, pgbench data so a backup takes a moment), an fs repository, the daemon in-process
 * with its cron schedules off (backups are driven through the API). Create → BACKUP_IN_PROGRESS
 * for a second → poll to completed → list → download over HTTP (the stored bytes) → retention
 * dry run and real run honouring the policy → pinned delete → delete → BACKUP_NOT_FOUND; a
 * backup running at shutdown is recorded as interrupted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { DEFAULT_THRESHOLDS, entryKey, HealthMonitor } from '../../src/service/index.js';
import { cleanUp, startPostgres, type PgCluster } from '../harness/index.js';
import { startDaemonFixture, waitFor, type DaemonFixture } from './daemon-fixture.js';

const PASSWORD = 'Bk7-backups-Secret-pw';
const DAY = 86_400_000;
let pg: PgCluster;
let fx: DaemonFixture;
let base: string;
let projectId: string;

beforeAll(async () => {
  pg = await startPostgres({ walSegmentSizeMB: 1, password: PASSWORD });
  await pg.exec('pgbench', ['-i', '-q', '-s', '8', '-h', '127.0.0.1', '-p', String(pg.port), '-U', 'postgres', 'postgres']);
  fx = await startDaemonFixture({}, { schedules: false });
  projectId = (await fx.call('POST', '/projects', { name: 'bk' })).json.data.id;
  const reg = await fx.call('POST', `/projects/${projectId}/databases`, { name: 'main', host: '127.0.0.1', port: pg.port, user: 'postgres', password: PASSWORD, dbname: 'postgres', sslmode: 'disable' });
  expect(reg.status).toBe(201);
  base = `/projects/${projectId}/databases/main`;
}, 120_000);

afterAll(() => cleanUp(() => fx?.close(), () => pg?.destroy()), 60_000);

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- route JSON, asserted field by field
async function untilDone(id: string): Promise<any> {
  let last: unknown = null;
  await waitFor(`backup ${id} to finish`, async () => {
    const r = await fx.call('GET', `${base}/backups/${id}`);
    expect(r.status).toBe(200);
    last = r.json.data;
    return r.json.data.status !== 'pending' && r.json.data.status !== 'running';
  }, 120_000, 50);
  return last;
}

/** Rewrite a backup.json as if the backup had been taken `days` ago (retention decides by time). */
async function age(id: string, days: number, extra: Record<string, unknown> = {}): Promise<void> {
  const store = fx.daemon.repo.database({ project: projectId, name: 'main' }).backups;
  const rec = (await store.get(id))!;
  const shift = (t: string | null) => (t === null ? null : new Date(Date.parse(t) - days * DAY).toISOString());
  await store.save({ ...rec, created_at: shift(rec.created_at)!, start_time: shift(rec.start_time), stop_time: shift(rec.stop_time), expires_at: shift(rec.expires_at), ...extra });
}

const ids: string[] = [];

describe('base backups over HTTP', () => {
  it('reports a stale-backup alert before the first backup (route and metric)', async () => {
    const h = await fx.call('GET', `${base}/health`);
    expect(h.status).toBe(200);
    expect(h.json.data.healthy).toBe(false);
    expect(h.json.data.alerts.map((a: { kind: string }) => a.kind)).toEqual(['backup_stale']);
    const m = await fx.call('GET', '/metrics');
    expect(m.text).toContain(`pitrd_alert_active{project="${projectId}",database="main",kind="backup_stale",severity="warning"} 1`);
    expect(m.text).toContain(`pitrd_backup_running{project="${projectId}",database="main"} 0`);
    expect(m.text).not.toContain('pitrd_last_backup_age_seconds{');
  });

  it('creates a backup at once (202, pending), refuses a second while it runs, and completes it', async () => {
    const first = await fx.call('POST', `${base}/backups`, { label: 'first' });
    expect(first.status).toBe(202);
    const id: string = first.json.data.id;
    expect(first.json.data).toMatchObject({ type: 'manual', status: 'pending', label: 'first', size_bytes: null });
    expect(id).toMatch(/^bkp_/);
    // The lock is taken when the first request is answered, so this one meets it.
    const second = await fx.call('POST', `${base}/backups`, {});
    expect(second.status).toBe(409);
    expect(second.json.error.code).toBe('BACKUP_IN_PROGRESS');
    expect(second.json.error.message).toContain(id);

    const running = await fx.call('GET', `${base}/backups/${id}`);
    expect(running.status).toBe(200);
    expect(running.json.data.id).toBe(id);

    const done = await untilDone(id);
    expect(done.error).toBeNull();
    // PITR is off: the backup carries its WAL.
    expect(done).toMatchObject({ id, status: 'completed', type: 'manual', label: 'first', progress: null, error: null, pinned: false, wal_included: true });
    expect(done.size_bytes).toBeGreaterThan(0);
    expect(done.original_size_bytes).toBeGreaterThan(8 * 1024 * 1024);
    expect(done.stop_lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    ids.push(id);

    // backup.json says completed a moment before the service lets go of the backup.
    const m = await waitFor('pitrd_backup_running 0', async () => {
      const r = await fx.call('GET', '/metrics');
      return r.text.includes(`pitrd_backup_running{project="${projectId}",database="main"} 0`) ? r : null;
    }, 10_000, 20);
    expect(m.text).toMatch(new RegExp(`pitrd_last_backup_age_seconds\\{project="${projectId}",database="main"\\} [0-9.e+-]+`));
    const h = await fx.call('GET', `${base}/health`);
    expect(h.json.data).toEqual({ healthy: true, alerts: [] });
    expect((await fx.call('GET', '/metrics')).text).not.toContain('pitrd_alert_active{');
    const cfg = await fx.call('GET', `${base}/pitr/config`);
    expect(cfg.json.data.base_backup_id).toBe(id);
  }, 180_000);

  it('hands out a download URL that serves the stored object over HTTP', async () => {
    const id = ids[0]!;
    const d = await fx.call('GET', `${base}/backups/${id}/download`);
    expect(d.status).toBe(200);
    const data = d.json.data;
    expect(Date.parse(data.expires_at)).toBeGreaterThan(Date.now());
    expect(data.compression).toBe('gzip');
    expect(data.files.map((f: { name: string }) => f.name)).toContain('base.tar.gz');
    expect(data.download_url).toBe(data.files.find((f: { name: string }) => f.name === 'base.tar.gz').url);

    const res = await fetch(data.download_url);
    expect(res.status).toBe(200);
    const got = Buffer.from(await res.arrayBuffer());
    const backups = fx.daemon.repo.database({ project: projectId, name: 'main' }).backups;
    const stored = await fx.daemon.repo.store.getBuffer(backups.dataKey(id, 'base.tar.gz'));
    expect(got.length).toBe(stored.length);
    expect(got.equals(stored)).toBe(true);

    // Any change to the URL breaks the signature.
    const tampered = data.download_url.replace('base.tar.gz', 'backup_manifest.gz');
    const bad = await fetch(tampered);
    expect(bad.status).toBe(403);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('SIGNED_URL_INVALID');
  });

  it('lists newest first with cursor pagination', async () => {
    const r = await fx.call('POST', `${base}/backups`, { label: 'second' });
    expect(r.status).toBe(202);
    expect((await untilDone(r.json.data.id)).status).toBe('completed');
    ids.push(r.json.data.id);
    const r3 = await fx.call('POST', `${base}/backups`, {});
    expect((await untilDone(r3.json.data.id)).status).toBe('completed');
    ids.push(r3.json.data.id);

    const all = await fx.call('GET', `${base}/backups`);
    expect(all.json.data.total_count).toBe(3);
    expect(all.json.data.backups.map((b: { id: string }) => b.id)).toEqual([...ids].reverse());
    const p1 = await fx.call('GET', `${base}/backups?limit=2`);
    expect(p1.json.data.backups.map((b: { id: string }) => b.id)).toEqual([ids[2], ids[1]]);
    const p2 = await fx.call('GET', `${base}/backups?limit=2&cursor=${p1.json.data.next_cursor}`);
    expect(p2.json.data.backups.map((b: { id: string }) => b.id)).toEqual([ids[0]]);
    expect(p2.json.data.next_cursor).toBeNull();
  }, 300_000);

  it('runs retention on demand: the dry run deletes nothing, the real run expires what the policy says', async () => {
    // Policy of a registered database: 7 days, at least 2 full backups. Backups 0 and 1 look 30
    // and 20 days old: 1 is the newest before the window (the base for its start) and also
    // needed for the minimum of 2, so only 0 goes.
    await age(ids[0]!, 30);
    await age(ids[1]!, 20);
    const dry = await fx.call('POST', `${base}/retention/run?dry_run=true`);
    expect(dry.status).toBe(200);
    expect(dry.json.data.dry_run).toBe(true);
    expect(dry.json.data.deleted.backups).toEqual([]);
    expect(dry.json.data.plan.delete_backups.map((b: { id: string }) => b.id)).toEqual([ids[0]]);
    expect(dry.json.data.plan.keep_backups.find((b: { id: string }) => b.id === ids[1]).reasons).toEqual(expect.arrayContaining(['window-anchor', 'min-full-backups']));
    expect((await fx.call('GET', `${base}/backups/${ids[0]}`)).status).toBe(200);

    const real = await fx.call('POST', `${base}/retention/run`);
    expect(real.status).toBe(200);
    expect(real.json.data.deleted.backups).toEqual([ids[0]]);
    const gone = await fx.call('GET', `${base}/backups/${ids[0]}`);
    expect(gone.status).toBe(404);
    expect(gone.json.error.code).toBe('BACKUP_NOT_FOUND');
    const left = await fx.call('GET', `${base}/backups`);
    expect(left.json.data.backups.map((b: { id: string }) => b.id)).toEqual([ids[2], ids[1]]);
  }, 60_000);

  it('refuses to delete a pinned backup without force; deletes backup.json and data', async () => {
    const id = ids[1]!;
    await age(id, 0, { pinned: true });
    const refused = await fx.call('DELETE', `${base}/backups/${id}`);
    expect(refused.status).toBe(409);
    expect(refused.json.error.code).toBe('CONFLICT');
    expect(refused.json.error.message).toContain('pinned');
    const forced = await fx.call('DELETE', `${base}/backups/${id}?force=true`);
    expect(forced.status).toBe(200);
    expect(forced.json.data).toEqual({ id, deleted: true });

    const plain = await fx.call('DELETE', `${base}/backups/${ids[2]}`);
    expect(plain.status).toBe(200);
    for (const gone of [id, ids[2]!]) {
      const r = await fx.call('GET', `${base}/backups/${gone}`);
      expect(r.status).toBe(404);
      expect(r.json.error.code).toBe('BACKUP_NOT_FOUND');
      const left: string[] = [];
      for await (const o of fx.daemon.repo.store.listAll(`projects/${projectId}/databases/main/backups/${gone}/`)) left.push(o.key);
      expect(left).toEqual([]);
    }
    expect((await fx.call('GET', `${base}/backups`)).json.data.total_count).toBe(0);
  });

  it('records a backup running at shutdown as interrupted', async () => {
    const r = await fx.call('POST', `${base}/backups`, {});
    const id: string = r.json.data.id;
    // Wait until its backup.json exists (status running), so there is a record to mark.
    await waitFor(`backup ${id} running`, async () => (await fx.call('GET', `${base}/backups/${id}`)).json.data.status === 'running', 60_000, 20);
    const busy = await fx.call('DELETE', `${base}/backups/${id}`);
    expect(busy.status).toBe(409);
    expect(busy.json.error.code).toBe('CONFLICT');
    await fx.restart();
    const after = await fx.call('GET', `${base}/backups/${id}`);
    expect(after.status).toBe(200);
    expect(after.json.data.status).toBe('interrupted');
    expect(after.json.data.error).toContain('interrupted');
  }, 120_000);

  it('with PITR enabled takes PITR backups: complete once the receiver has archived their WAL', async () => {
    const en = await fx.call('POST', `${base}/pitr/enable`, {});
    expect(en.status).toBe(200);
    const r = await fx.call('POST', `${base}/backups`, { label: 'pitr' });
    expect(r.status).toBe(202);
    const done = await untilDone(r.json.data.id);
    expect(done).toMatchObject({ status: 'completed', label: 'pitr', wal_included: false });
    // Its stop segment is in the WAL archive the receiver fills.
    const wal = await fx.call('GET', `${base}/pitr/wal?limit=1000`);
    expect(wal.json.data.total_count).toBeGreaterThan(0);
    const h = await fx.call('GET', `${base}/health`);
    expect(h.json.data).toEqual({ healthy: true, alerts: [] });

    // Commits after the backup, archived by the receiver, extend the recovery window past it.
    await pg.query('CREATE TABLE after_backup (id int)');
    await pg.query('INSERT INTO after_backup SELECT generate_series(1, 1000)');
    await pg.query('SELECT pg_switch_wal()');
    const w = await waitFor('a recovery window reaching past the backup', async () => {
      const r = await fx.call('GET', `${base}/pitr/recovery-window`);
      const data = r.json.data;
      return data.status === 'ok' && data.to !== null && Date.parse(data.to) > Date.parse(done.stop_time) ? data : null;
    }, 60_000, 200);
    // The window starts at the oldest backup with gap-free WAL after it (the PITR one, or an older one the archive continues).
    const from = (await fx.call('GET', `${base}/backups/${w.base_backup_id}`)).json.data;
    expect(from.status).toBe('completed');
    expect(w).toMatchObject({ status: 'ok', from: from.stop_time, base_backup_time: from.stop_time, gaps: [] });
    expect(Date.parse(w.from)).toBeLessThanOrEqual(Date.parse(done.stop_time));
    expect(Date.parse(w.latest_wal_time)).toBeGreaterThanOrEqual(Date.parse(w.to));
    // The slot-retention check asks the server: with a threshold below any answer it raises.
    const strict = new HealthMonitor({
      entries: () => fx.daemon.databases.listEntries(),
      lastBackups: async () => new Map([[entryKey(projectId, 'main'), Date.now()]]),
      notifier: null,
      logger: pino({ level: 'silent' }),
      thresholds: { ...DEFAULT_THRESHOLDS, slotRetainedBytes: -1 },
    });
    const alerts = await strict.evaluate();
    expect(alerts.map((a) => a.kind)).toEqual(['slot_retention']);
    expect(alerts[0]!.message).toContain('replication slot retains');

    const cfg = await fx.call('GET', `${base}/pitr/config`);
    expect(cfg.json.data.recovery_window).toEqual({ from: w.from, to: w.to });
    expect(cfg.json.data.base_backup_id).toBe(done.id);
    expect((await fx.call('POST', `${base}/pitr/disable`)).status).toBe(200);
  }, 120_000);

});
