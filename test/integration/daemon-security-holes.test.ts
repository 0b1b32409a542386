/**
 * Smaller security holes (issue 14, item 5), each through the real daemon on an fs repository (no
 * Postgres: nothing here reaches a server): signed-URL queries in the request log, /metrics scope
 * and rate limit, target_dir naming the daemon's state or another project, failed
 * authentications per client address, and what error messages tell a client.
 */
import { request } from 'node:http';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileTokenStore } from '../../src/auth/index.js';
import { signFsUrl } from '../../src/storage/index.js';
import { loadUrlSigningSecret } from '../../src/service/index.js';
import { startDaemonFixture, type DaemonFixture } from './daemon-fixture.js';

let fx: DaemonFixture;
let pid: string;
let otherPid: string;
let scoped: string;
let freeAll: string;
const SCRAPE = 'scrape-secret-for-prometheus-0123456789';

beforeAll(async () => {
  const { createHash } = await import('node:crypto');
  fx = await startDaemonFixture(
    { api: { token_hashes: [createHash('sha256').update(SCRAPE).digest('hex')], rate_limit: { failed_auth_burst: 3, failed_auth_per_minute: 1 } } },
    { schedules: false },
  );
  pid = (await fx.call('POST', '/projects', { name: 'main-project' })).json.data.id;
  otherPid = (await fx.call('POST', '/projects', { name: 'other' })).json.data.id;
  const tokens = new FileTokenStore(fx.config.api.tokens_file!);
  scoped = (await tokens.create({ name: 'scoped', projects: [pid], tier: 'pro' })).token;
  freeAll = (await tokens.create({ name: 'free-all', projects: ['*'], tier: 'free' })).token;
  expect((await fx.call('POST', `/projects/${pid}/databases`, { name: 'known', host: 'db.invalid', password: 'pw-holes' })).status).toBe(201);
}, 60_000);
afterAll(async () => fx?.close(), 60_000);

/** A request from a chosen loopback address (Linux routes all of 127/8 to lo). */
function callFrom(localAddress: string, path: string, token: string | null): Promise<{ status: number; headers: Record<string, unknown>; json: { error?: { code: string; message: string } } }> {
  const u = new URL(`${fx.daemon.url}${path}`);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path: u.pathname + u.search, localAddress, headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, json: JSON.parse(body) as { error?: { code: string; message: string } } }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the request log', () => {
  it('never holds the query of a signed download URL, nor secret-named query parameters', async () => {
    const secret = await loadUrlSigningSecret(fx.daemon.repo.store);
    const signed = signFsUrl({ publicBaseUrl: fx.daemon.url, secret, key: 'repo.json', expiresInSeconds: 60 });
    const sig = new URL(signed.url).searchParams.get('sig')!;
    const got = await fetch(signed.url);
    expect(got.status).toBe(200);
    expect(JSON.parse(await got.text())).toHaveProperty('format');
    // A forged one and a presigned-S3-looking query on another route.
    const forgedSig = 'f'.repeat(64);
    expect((await fetch(`${fx.daemon.url}/v1/objects/repo.json?expires=9999999999&sig=${forgedSig}`)).status).toBe(403);
    await fx.call('GET', `/projects?X-Amz-Signature=s3sigvalue123&limit=5`);
    const logs = fx.logs.join('');
    expect(logs).toContain('/v1/objects/repo.json?[REDACTED]');
    expect(logs).not.toContain(sig);
    expect(logs).not.toContain(forgedSig);
    expect(logs).not.toContain('s3sigvalue123');
    expect(logs).toContain('X-Amz-Signature=[REDACTED]&limit=5');
  });
});

describe('/metrics', () => {
  it("refuses a project-scoped token (the series name every project's databases)", async () => {
    const r = await fx.call('GET', '/metrics', undefined, {}, scoped);
    expect(r.status).toBe(403);
    expect(r.json.error.code).toBe('FORBIDDEN');
    expect(r.text).not.toContain('pitrd_');
  });

  it("serves a '*' token and a scrape token", async () => {
    const all = await fx.call('GET', '/metrics');
    expect(all.status).toBe(200);
    expect(all.text).toContain('pitrd_http_requests_total');
    const scrape = await fx.call('GET', '/metrics', undefined, {}, SCRAPE);
    expect(scrape.status).toBe(200);
    expect(scrape.headers.get('x-ratelimit-limit')).toBe('1000');
  });

  it('is rate-limited like any route (free tier: burst 10, then 1 a second)', async () => {
    // 40 at once: past the burst of 10 some are refused however slowly the machine answers
    // (40 would take more than 30 s to be all allowed).
    const statuses = await Promise.all(Array.from({ length: 40 }, async () => (await fx.call('GET', '/metrics', undefined, {}, freeAll)).status));
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(10);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
    expect(statuses.every((s) => s === 200 || s === 429)).toBe(true);
  });
});

describe('target_dir', () => {
  const R = () => `/projects/${pid}/databases/known/pitr/restore`;
  const T = '2026-01-25T14:30:00Z';

  it.each([
    ['the state file', 'running-restores.json/..'],
    ['the state directory', '.pitrd'],
    ["the state file's old place", '../running-restores.json'],
    ["another project's directory", `../${'proj_other'}/x`],
    ['a path inside the project', 'a/b'],
    ['an absolute path', '/tmp/pitrd-evil'],
  ])('refuses %s (%s) before anything is written, naming no daemon path', async (_what, dir) => {
    const r = await fx.call('POST', R(), { target_time: T, target_dir: dir });
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe('VALIDATION_ERROR');
    expect(r.json.error.message).toContain('body.target_dir: expected a directory name');
    expect(r.json.error.message).not.toContain(fx.dir);
  });

  it("a name is taken inside the project's own directory, and the daemon's state is elsewhere", async () => {
    // Well-formed: refused by the plan (nothing archived) after the directory check passed.
    const r = await fx.call('POST', R(), { target_time: T, target_dir: 'running-restores.json' });
    expect(r.json.error.code).toBe('TARGET_TIME_INVALID');
    const root = fx.daemon.restores.root;
    const top = existsSync(root) ? readdirSync(root) : [];
    expect(top.filter((n) => n !== 'projects' && n !== '.pitrd' && n !== 'branches')).toEqual([]);
  });
});

describe('failed authentications', () => {
  it('are limited per client address (429 AUTH_RATE_LIMITED with Retry-After), without locking out other addresses', async () => {
    const path = `/projects/${pid}/databases`;
    const bad = [null, 'nonsense', `pitrd_000000000000_${'A'.repeat(43)}`];
    for (const t of bad) expect((await callFrom('127.0.0.3', path, t)).json.error!.code).toBe('AUTH_REQUIRED');
    const limited = await callFrom('127.0.0.3', path, 'another-guess');
    expect(limited.status).toBe(429);
    expect(limited.json.error!.code).toBe('AUTH_RATE_LIMITED');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    // Refused before the token is checked: a right guess looks like a wrong one.
    const right = await callFrom('127.0.0.3', path, fx.admin);
    expect(right.status).toBe(429);
    expect(right.json.error!.code).toBe('AUTH_RATE_LIMITED');
    // Another address is not affected, with a good token or a bad one.
    expect((await callFrom('127.0.0.4', path, fx.admin)).status).toBe(200);
    expect((await callFrom('127.0.0.4', path, 'nonsense')).json.error!.code).toBe('AUTH_REQUIRED');
    // Public routes stay open to the limited address.
    expect((await callFrom('127.0.0.3', '/', null)).status).toBe(200);
  });
});

describe('error messages', () => {
  it('a server error gives the client a code, a safe text and a request id; the log line with that id has the details', async () => {
    const key = join(fx.config.storage.type === 'fs' ? fx.config.storage.path : '', 'api', 'projects.json');
    const saved = (await import('node:fs')).readFileSync(key);
    writeFileSync(key, JSON.stringify({ version: 99 }));
    try {
      const r = await fx.call('GET', '/projects');
      expect(r.status).toBe(500);
      expect(r.json.error.code).toBe('REPO_INVALID');
      expect(r.json.error.message).not.toContain(fx.dir);
      expect(r.json.error.message).not.toContain('/');
      const id = /request (req_[0-9a-f]+)/.exec(r.json.error.message)?.[1];
      expect(id).toBeDefined();
      const line = fx.logs.find((l) => l.includes(`"reqId":"${id}"`) && l.includes('request failed'));
      expect(line).toBeDefined();
      expect(line).toContain(fx.dir);
    } finally {
      writeFileSync(key, saved);
    }
  });

  it("a client error does not name the daemon's files", async () => {
    const r = await fx.call('GET', `/projects/${otherPid}/databases/known/backups/bkp_20260101T000000Z_00000000`);
    expect(r.status).toBe(404);
    for (const b of fx.bodies) expect(b).not.toContain(fx.dir);
  });
});
