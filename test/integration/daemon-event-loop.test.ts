/**
 * The daemon's own event-loop figures in /metrics (pitrd_event_loop_*), on a daemon started
 * in-process so the test can block the very loop it serves from; and the daemon's remembered
 * token answers, which must still honour a revocation on the next request.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileTokenStore } from '../../src/auth/index.js';
import { startDaemonFixture, type DaemonFixture } from './daemon-fixture.js';

let fx: DaemonFixture;

beforeAll(async () => {
  fx = await startDaemonFixture({}, { schedules: false });
}, 60_000);
afterAll(async () => fx?.close(), 60_000);

function series(text: string, name: string): number {
  const re = new RegExp(`^${name.replace(/[{}"=.]/g, (c) => `\\${c}`)} (\\S+)$`, 'm');
  const m = re.exec(text);
  if (!m) throw new Error(`no series ${name} in /metrics:\n${text}`);
  return Number(m[1]);
}

describe('event-loop metrics', () => {
  it('expose delay quantiles, max and busy time in the Prometheus text format', async () => {
    const r = await fx.call('GET', '/metrics');
    expect(r.status).toBe(200);
    expect(r.text).toContain('# TYPE pitrd_event_loop_delay_seconds summary');
    expect(r.text).toContain('# TYPE pitrd_event_loop_delay_max_seconds gauge');
    expect(r.text).toContain('# TYPE pitrd_event_loop_busy_seconds_total counter');
    for (const q of ['0.5', '0.9', '0.99', '0.999']) expect(series(r.text, `pitrd_event_loop_delay_seconds{quantile="${q}"}`)).toBeGreaterThanOrEqual(0);
    expect(series(r.text, 'pitrd_event_loop_delay_seconds_count')).toBeGreaterThan(0);
    expect(series(r.text, 'pitrd_event_loop_delay_seconds_sum')).toBeGreaterThanOrEqual(0);
    expect(series(r.text, 'pitrd_event_loop_busy_seconds_total')).toBeGreaterThan(0);
  });

  it('a blocked event loop shows as a delay at least as long as the block, and as busy time', async () => {
    const before = await fx.call('GET', '/metrics');
    const busyBefore = series(before.text, 'pitrd_event_loop_busy_seconds_total');
    const countBefore = series(before.text, 'pitrd_event_loop_delay_seconds_count');
    // Let the monitor's timer start a fresh interval, then hold the loop for 300 ms.
    await new Promise((r) => setTimeout(r, 50));
    const end = performance.now() + 300;
    while (performance.now() < end) {
      /* the daemon's loop is this test's loop: nothing else runs meanwhile */
    }
    await new Promise((r) => setTimeout(r, 50));
    const after = await fx.call('GET', '/metrics');
    // The timer fires every 10 ms: a 300 ms block delays one firing by at least 290 ms.
    expect(series(after.text, 'pitrd_event_loop_delay_max_seconds')).toBeGreaterThanOrEqual(0.29);
    expect(series(after.text, 'pitrd_event_loop_delay_seconds_count')).toBeGreaterThan(countBefore);
    expect(series(after.text, 'pitrd_event_loop_busy_seconds_total') - busyBefore).toBeGreaterThanOrEqual(0.3);
  });
});

describe('remembered token answers', () => {
  it('a revoked token is refused on the next request, a new one accepted at once', async () => {
    const store = new FileTokenStore(fx.config.api.tokens_file!);
    const t = await store.create({ name: 'short-lived', projects: ['*'], tier: 'pro' });
    // Twice: the second answer comes from what the daemon remembered.
    for (let i = 0; i < 2; i++) expect((await fx.call('GET', '/projects', undefined, {}, t.token)).status).toBe(200);
    await store.revoke(t.record.id);
    const refused = await fx.call('GET', '/projects', undefined, {}, t.token);
    expect(refused.status).toBe(401);
    expect(refused.json.error.code).toBe('AUTH_REQUIRED');
    const next = await store.create({ name: 'next', projects: ['*'], tier: 'pro' });
    expect((await fx.call('GET', '/projects', undefined, {}, next.token)).status).toBe(200);
    expect((await fx.call('GET', '/projects', undefined, {}, 'pitrd_000000000000_notatokenatall')).status).toBe(401);
  });
});
