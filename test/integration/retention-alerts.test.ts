import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebhookNotifier, diffAlerts, evaluateHealth, type Alert, type HealthObservation } from '../../src/health/index.js';
import { scheduleRetention } from '../../src/retention/index.js';

/** A real local HTTP server recording every POST; `mode` decides how it answers. */
let server: Server;
let base = '';
const received: { path: string; body: unknown; contentType: string | undefined }[] = [];
let mode: 'ok' | 'error' | 'hang' = 'ok';
const hanging: ServerResponse[] = [];

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ path: req.url ?? '', body: JSON.parse(Buffer.concat(chunks).toString('utf8')), contentType: req.headers['content-type'] });
      if (mode === 'hang') {
        hanging.push(res);
        return;
      }
      res.statusCode = mode === 'ok' ? 204 : 500;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const r of hanging) r.destroy();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const th = { uploadBacklogBytes: 64 << 20, slotRetainedBytes: 1 << 30, backupMaxAgeMs: 26 * 3_600_000 };

describe('alert webhook', () => {
  it('the webhook receives every raise and clear, once each', async () => {
    received.length = 0;
    mode = 'ok';
    const warnings: string[] = [];
    const notifier = createWebhookNotifier({ url: `${base}/hooks/pitrd?token=s3cret`, logger: { warn: (_o, m) => warnings.push(m) } });
    const t0 = Date.parse('2026-06-30T12:00:00Z');
    const healthy: HealthObservation = { database: 'app', archiveGap: null, uploadBacklogBytes: 0, slotRetainedBytes: 0, lastSuccessfulBackupAt: t0, receiverUp: true };
    const timeline: HealthObservation[] = [
      healthy,
      { ...healthy, receiverUp: false },
      { ...healthy, receiverUp: false, archiveGap: { timeline: 1, missingFrom: '000000010000000000000007', missingTo: '000000010000000000000007' } },
      { ...healthy, receiverUp: false, archiveGap: { timeline: 1, missingFrom: '000000010000000000000007', missingTo: '000000010000000000000007' } },
      { ...healthy, archiveGap: { timeline: 1, missingFrom: '000000010000000000000007', missingTo: '000000010000000000000007' } },
      healthy,
    ];
    let active: Alert[] = [];
    let sent = 0;
    for (const [i, obs] of timeline.entries()) {
      const now = t0 + i * 60_000;
      const d = diffAlerts(active, evaluateHealth(obs, th, now), now);
      active = d.active;
      for (const c of d.changes) {
        expect(await notifier.notify(c)).toBe(true);
        sent += 1;
      }
    }
    expect(sent).toBe(4);
    expect(received.map((r) => [r.path, (r.body as { event: string }).event, (r.body as { alert: Alert }).alert.kind])).toEqual([
      ['/hooks/pitrd?token=s3cret', 'alert.raised', 'receiver_down'],
      ['/hooks/pitrd?token=s3cret', 'alert.raised', 'archive_gap'],
      ['/hooks/pitrd?token=s3cret', 'alert.cleared', 'receiver_down'],
      ['/hooks/pitrd?token=s3cret', 'alert.cleared', 'archive_gap'],
    ]);
    expect(received[0]!.contentType).toBe('application/json');
    expect(received[3]!.body).toMatchObject({ at: new Date(t0 + 5 * 60_000).toISOString(), alert: { database: 'app', severity: 'critical', since: new Date(t0 + 2 * 60_000).toISOString() } });
    expect(warnings).toEqual([]);
  });

  it('an error answer, a hung receiver and a closed port are logged, never thrown, and the token never logged', async () => {
    const logged: { obj: Record<string, unknown>; msg: string }[] = [];
    const logger = { warn: (obj: Record<string, unknown>, msg: string) => logged.push({ obj, msg }) };
    const change = { state: 'raised' as const, at: Date.now(), alert: { key: 'app:receiver_down', kind: 'receiver_down' as const, database: 'app', severity: 'critical' as const, message: 'down', since: Date.now() } };

    mode = 'error';
    expect(await createWebhookNotifier({ url: `${base}/hook?token=s3cret`, logger }).notify(change)).toBe(false);
    mode = 'hang';
    expect(await createWebhookNotifier({ url: `${base}/hook?token=s3cret`, logger, timeoutMs: 200 }).notify(change)).toBe(false);
    // A port nobody listens on: take one from a server we start and stop.
    const tmp = createServer();
    await new Promise<void>((r) => tmp.listen(0, '127.0.0.1', r));
    const closedPort = (tmp.address() as AddressInfo).port;
    await new Promise<void>((r) => tmp.close(() => r()));
    expect(await createWebhookNotifier({ url: `http://127.0.0.1:${closedPort}/hook?token=s3cret`, logger }).notify(change)).toBe(false);

    expect(logged).toHaveLength(3);
    expect(logged[0]!.obj).toMatchObject({ status: 500, url: `${base}/hook` });
    expect(logged[1]!.msg).toMatch(/alert webhook failed/);
    expect(logged[2]!.msg).toMatch(/alert webhook failed/);
    expect(JSON.stringify(logged)).not.toContain('s3cret');
  });
});

describe('scheduleRetention', () => {
  it('runs on its cron schedule and on demand, never two runs at once', async () => {
    let runs = 0;
    let concurrent = 0;
    let maxConcurrent = 0;
    let release: (() => void) | undefined;
    let firstScheduled: (() => void) | undefined;
    const scheduledRan = new Promise<void>((r) => (firstScheduled = r));
    const sched = scheduleRetention('* * * * * *', async () => {
      runs += 1;
      concurrent += 1;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      firstScheduled?.();
      firstScheduled = undefined;
      if (release === undefined) await new Promise<void>((r) => (release = r));
      concurrent -= 1;
      return runs;
    });
    try {
      expect(sched.nextRun()).toBeInstanceOf(Date);
      // The per-second schedule fires; while that run is held open, on-demand runs join it.
      await scheduledRan;
      expect(sched.isBusy()).toBe(true);
      const a = sched.runNow();
      const b = sched.runNow();
      release!();
      expect(await a).toBe(await b);
      expect(maxConcurrent).toBe(1);
      // With nothing running, an on-demand call starts a run of its own.
      const before = runs;
      await sched.runNow();
      expect(runs).toBeGreaterThan(before);
    } finally {
      release?.();
      await sched.stop();
    }
  });

  it('refuses an invalid cron expression', () => {
    expect(() => scheduleRetention('every day', async () => undefined)).toThrow(/not a valid cron expression/);
  });
});
