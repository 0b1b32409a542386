import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  decodeCursor,
  encodeCursor,
  IdempotencyCoordinator,
  MemoryIdempotencyStore,
  MetricsRegistry,
  paginate,
  parseInput,
  rfc3339,
  scrubSecrets,
  TokenBucketLimiter,
} from '../../src/api/index.js';
import { canonicalJson, fingerprint } from '../../src/api/idempotency.js';
import { formatToken, hashSecret, parseToken } from '../../src/auth/index.js';
import { isPitrdError } from '../../src/errors.js';

describe('token bucket', () => {
  it('allows the burst, then refuses with Retry-After, then refills at perMinute/60 per second', () => {
    let now = 0;
    const l = new TokenBucketLimiter({ free: { perMinute: 60, burst: 10 }, pro: { perMinute: 1000, burst: 100 } }, () => now);
    for (let i = 0; i < 10; i++) expect(l.take('t', 'free').allowed).toBe(true);
    const refused = l.take('t', 'free');
    expect(refused).toMatchObject({ allowed: false, remaining: 0, retryAfterSeconds: 1 });
    now += 500;
    expect(l.take('t', 'free').allowed).toBe(false);
    now += 500;
    expect(l.take('t', 'free')).toMatchObject({ allowed: true, remaining: 0 });
    now += 60_000; // a minute idle refills to the burst, never beyond
    const d = l.take('t', 'free');
    expect(d.remaining).toBe(9);
    expect(d.resetSeconds).toBe(1);
  });

  it('keys are independent; pro has its own limits; a clock stepping back mints nothing', () => {
    let now = 1_000_000;
    const l = new TokenBucketLimiter(undefined, () => now);
    for (let i = 0; i < 100; i++) expect(l.take('pro', 'pro').allowed).toBe(true);
    expect(l.take('pro', 'pro').allowed).toBe(false);
    expect(l.take('other', 'free').allowed).toBe(true);
    now -= 10_000;
    expect(l.take('pro', 'pro').allowed).toBe(false);
    now += 10_000 + 60; // 1000/min = one per 60 ms
    expect(l.take('pro', 'pro').allowed).toBe(true);
  });

  it('Retry-After rounds up to whole seconds for slow tiers', () => {
    let now = 0;
    const l = new TokenBucketLimiter({ free: { perMinute: 2, burst: 1 }, pro: { perMinute: 1000, burst: 100 } }, () => now);
    expect(l.take('k', 'free').allowed).toBe(true);
    expect(l.take('k', 'free').retryAfterSeconds).toBe(30);
    now += 29_000;
    expect(l.take('k', 'free').retryAfterSeconds).toBe(1);
  });
});

describe('idempotency coordinator', () => {
  it('runs once per key, replays, rejects a different request with CONFLICT, expires after the TTL', async () => {
    let now = 0;
    let runs = 0;
    const c = new IdempotencyCoordinator(new MemoryIdempotencyStore(), () => now, 1000);
    const exec = async () => ({ status: 201, body: { n: ++runs } });
    expect(await c.run('tok:k', 'fp1', exec)).toEqual({ status: 201, body: { n: 1 }, replayed: false });
    expect(await c.run('tok:k', 'fp1', exec)).toEqual({ status: 201, body: { n: 1 }, replayed: true });
    await expect(c.run('tok:k', 'fp2', exec)).rejects.toMatchObject({ code: 'CONFLICT' });
    now = 1000;
    expect(await c.run('tok:k', 'fp2', exec)).toEqual({ status: 201, body: { n: 2 }, replayed: false });
    expect(runs).toBe(2);
  });

  it('concurrent duplicates wait for the first; a thrown (5xx) attempt stores nothing', async () => {
    let runs = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const c = new IdempotencyCoordinator();
    const slow = async () => {
      runs++;
      await gate;
      return { status: 201, body: { ok: true } };
    };
    const all = Promise.all([c.run('a:k', 'fp', slow), c.run('a:k', 'fp', slow), c.run('a:k', 'fp', slow)]);
    release();
    const res = await all;
    expect(runs).toBe(1);
    expect(res.map((r) => r.replayed)).toEqual([false, true, true]);

    let attempts = 0;
    const flaky = async () => {
      attempts++;
      if (attempts === 1) throw new Error('storage down');
      return { status: 201, body: { attempt: attempts } };
    };
    await expect(c.run('a:f', 'fp', flaky)).rejects.toThrow('storage down');
    expect(await c.run('a:f', 'fp', flaky)).toEqual({ status: 201, body: { attempt: 2 }, replayed: false });
  });

  it('memory store sweeps expired records', async () => {
    const s = new MemoryIdempotencyStore();
    await s.put('a', { fingerprint: 'x', status: 200, body: 1, createdAtMs: 0, expiresAtMs: 10 });
    await s.put('b', { fingerprint: 'x', status: 200, body: 1, createdAtMs: 20, expiresAtMs: 30 });
    expect(s.size).toBe(1);
    expect(await s.get('b', 30)).toBeNull();
  });

  it('fingerprints ignore key order but not values, method or path', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] })).toBe('{"a":[{"c":3,"d":2}],"b":1}');
    expect(fingerprint('POST', '/p', { a: 1, b: 2 })).toBe(fingerprint('POST', '/p', { b: 2, a: 1 }));
    expect(fingerprint('POST', '/p', { a: 1 })).not.toBe(fingerprint('POST', '/q', { a: 1 }));
    expect(fingerprint('POST', '/p', { a: 1 })).not.toBe(fingerprint('POST', '/p', { a: 2 }));
  });
});

describe('cursor pagination', () => {
  const items = Array.from({ length: 7 }, (_, i) => ({ t: `2026-01-0${(i % 3) + 1}`, id: `id${i}` }));
  const key = (x: { t: string; id: string }) => [x.t, x.id] as const;

  it('walks every item once in key order', () => {
    const out: string[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = paginate(items, key, 2, { limit: 3, cursor });
      out.push(...page.items.map((x) => x.id));
      if (!page.next_cursor) break;
      cursor = page.next_cursor;
    }
    expect(out).toEqual(['id0', 'id3', 'id6', 'id1', 'id4', 'id2', 'id5']);
  });

  it('cursors round-trip and reject what we did not issue', () => {
    expect(decodeCursor(encodeCursor(['a', 1]), 2)).toEqual(['a', 1]);
    for (const bad of ['!!', encodeCursor(['a']), Buffer.from('nope').toString('base64url'), Buffer.from('[{}, 1]').toString('base64url')]) {
      try {
        decodeCursor(bad, 2);
        expect.unreachable();
      } catch (err) {
        expect(isPitrdError(err, 'VALIDATION_ERROR')).toBe(true);
        expect((err as Error).message).toContain('query.cursor');
      }
    }
    expect(paginate([], key, 2, { cursor: encodeCursor(['x', 'y']) })).toEqual({ items: [], next_cursor: null });
  });
});

describe('metrics registry', () => {
  it('renders counters, gauges and histograms in the text format with escaped labels', async () => {
    const r = new MetricsRegistry();
    const c = r.counter('pitrd_test_total', 'a counter', ['db']);
    c.inc({ db: 'a"b\\c\nd' }, 2);
    r.gauge('pitrd_lag_seconds', 'lag').set(undefined, 1.5);
    const h = r.histogram('pitrd_dur_seconds', 'durations', ['route'], [0.1, 1]);
    h.observe({ route: '/' }, 0.05);
    h.observe({ route: '/' }, 5);
    let collected = 0;
    r.collect(() => void collected++);
    const text = await r.expose();
    expect(collected).toBe(1);
    expect(text).toContain('# TYPE pitrd_test_total counter\npitrd_test_total{db="a\\"b\\\\c\\nd"} 2\n');
    expect(text).toContain('# HELP pitrd_lag_seconds lag\n# TYPE pitrd_lag_seconds gauge\npitrd_lag_seconds 1.5\n');
    expect(text).toContain('pitrd_dur_seconds_bucket{route="/",le="0.1"} 1\npitrd_dur_seconds_bucket{route="/",le="1"} 1\npitrd_dur_seconds_bucket{route="/",le="+Inf"} 2\npitrd_dur_seconds_sum{route="/"} 5.05\npitrd_dur_seconds_count{route="/"} 2');
    expect(r.counter('pitrd_test_total', 'again', ['db'])).toBe(c);
    expect(() => r.gauge('pitrd_test_total', 'x')).toThrow(/already registered/);
    expect(() => c.inc({})).toThrow(/needs label db/);
    expect(() => c.inc({ db: 'x' }, -1)).toThrow(/cannot decrease/);
  });
});

describe('tokens and secrets', () => {
  it('parses only well-formed tokens; the hash is sha256 of the secret', () => {
    const secret = 'A'.repeat(43);
    const t = formatToken('0123456789ab', secret);
    expect(parseToken(t)).toEqual({ id: '0123456789ab', secret });
    expect(parseToken(`pitrd_0123456789ab_${'_'.repeat(43)}`)).toEqual({ id: '0123456789ab', secret: '_'.repeat(43) });
    for (const bad of ['', 'pitrd_', 'pitrd_xyz_abc', `pitrd_0123456789AB_${secret}`, `pb_0123456789ab_${secret}`, `${t}x`]) expect(parseToken(bad)).toBeNull();
    expect(hashSecret('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('scrubs tokens, URL passwords and conninfo passwords from text', () => {
    const tok = formatToken('0123456789ab', 'B'.repeat(43));
    expect(scrubSecrets(`auth ${tok} failed`)).toBe('auth pitrd_[REDACTED] failed');
    expect(scrubSecrets('postgres://u:p@ss@h/db')).toBe('postgres://u:[REDACTED]@h/db');
    expect(scrubSecrets("host=h password='x y' user=u")).toBe('host=h password=[REDACTED] user=u');
    expect(scrubSecrets('https://example.com/a@b')).toBe('https://example.com/a@b');
  });
});

describe('validation messages', () => {
  it('names the field path and the reason; RFC 3339 needs an offset', () => {
    const schema = z.strictObject({ target_time: rfc3339(), nested: z.strictObject({ n: z.number() }).optional() });
    const msg = (v: unknown) => {
      try {
        parseInput('body', schema, v);
        return 'ok';
      } catch (err) {
        return (err as Error).message;
      }
    };
    expect(msg({ target_time: '2026-01-25T14:30:00Z' })).toBe('ok');
    expect(msg({ target_time: '2026-01-25T14:30:00+02:00' })).toBe('ok');
    expect(msg({ target_time: '2026-01-25 14:30' })).toContain('body.target_time: expected an RFC 3339 timestamp');
    expect(msg({ target_time: '2026-01-25T14:30:00' })).toContain('body.target_time');
    expect(msg({ target_time: '2026-02-30T00:00:00Z' })).toContain('body.target_time');
    expect(msg({ target_time: '2026-01-25T14:30:00Z', nested: { n: 'x', m: 1 } })).toBe('body.nested.n: expected number, received string; body.nested.m: unknown field');
    expect(msg({})).toBe('body.target_time: required (expected string)');
  });
});
