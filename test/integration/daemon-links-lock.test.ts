/**
 * Two holes that need a real PostgreSQL (issue 14, item 5):
 * - download links never name the wildcard address the daemon is bound to: `api.public_url` when
 *   set, else the request's Host header (when bound to 0.0.0.0), else the loopback address;
 * - a second `pitrd serve` on the same config (and spool) exits with SPOOL_LOCKED naming the
 *   holder's PID before starting anything: no second replication connection ever reaches the
 *   server (its log records every connection), and a stale lock (dead PID) is taken over.
 */
import { request } from 'node:http';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiLogger } from '../../src/api/index.js';
import { startDaemon } from '../../src/daemon.js';
import { SPOOL_LOCK_FILE } from '../../src/daemon/spool-lock.js';
import { cleanUp, freePort, startPostgres, type PgCluster } from '../harness/index.js';
import { pitrd } from './cli-fixture.js';
import { startDaemonFixture, waitFor, type DaemonFixture } from './daemon-fixture.js';

const PASSWORD = 'links-lock-Secret-pw';
let pg: PgCluster;
let fx: DaemonFixture;
let port: number;
let base: string;
let backupId: string;

/** GET through node:http, which lets a test choose the Host header. */
function getWithHost(path: string, host: string | undefined, token: string): Promise<{ status: number; json: { data: { download_url: string; files: Array<{ url: string }> } } }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { authorization: `Bearer ${token}`, ...(host !== undefined ? { host } : {}) } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(body) as { data: { download_url: string; files: Array<{ url: string }> } } }));
    });
    req.on('error', reject);
    req.end();
  });
}

const replicationConnections = () => (readFileSync(join(dirname(pg.dataDir), 'postgres.log'), 'utf8').match(/replication connection authorized/g) ?? []).length;

beforeAll(async () => {
  pg = await startPostgres({ walSegmentSizeMB: 1, password: PASSWORD, settings: { log_connections: 'on' } });
  await pg.query('CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g');
  port = await freePort();
  fx = await startDaemonFixture({ api: { listen: { host: '0.0.0.0', port } } }, { schedules: false });
  const pid = (await fx.call('POST', '/projects', { name: 'links' })).json.data.id;
  base = `/projects/${pid}/databases/main`;
  const reg = await fx.call('POST', `/projects/${pid}/databases`, { name: 'main', host: '127.0.0.1', port: pg.port, user: 'postgres', password: PASSWORD, dbname: 'postgres', sslmode: 'disable' });
  expect(reg.status).toBe(201);
  expect((await fx.call('POST', `${base}/pitr/enable`, {})).status).toBe(200);
  await waitFor('receiver streaming', async () => (await pg.query<{ n: string }>('SELECT count(*)::text AS n FROM pg_stat_replication'))[0]!.n === '1', 60_000, 50);
  backupId = (await fx.call('POST', `${base}/backups`, {})).json.data.id;
  await waitFor('backup completed', async () => (await fx.call('GET', `${base}/backups/${backupId}`)).json.data.status === 'completed', 120_000, 100);
}, 240_000);

afterAll(() => cleanUp(() => fx?.close(), () => pg?.destroy()), 60_000);

describe('download links of a daemon bound to 0.0.0.0', () => {
  it("without api.public_url: the request's Host, never 0.0.0.0; a malformed or wildcard Host falls back to loopback", async () => {
    const path = `${base}/backups/${backupId}/download`;
    const viaLoopback = await getWithHost(path, undefined, fx.admin);
    expect(viaLoopback.status).toBe(200);
    const link = viaLoopback.json.data.download_url;
    expect(link.startsWith(`http://127.0.0.1:${port}/v1/objects/`)).toBe(true);
    expect((await fetch(link)).status).toBe(200);

    const named = await getWithHost(path, `pitrd.example:${port}`, fx.admin);
    expect(named.json.data.download_url.startsWith(`http://pitrd.example:${port}/v1/objects/`)).toBe(true);
    for (const host of [`0.0.0.0:${port}`, 'evil.example/x?', 'a b']) {
      const r = await getWithHost(path, host, fx.admin);
      if (r.status !== 200) continue; // node's HTTP parser may refuse the header itself
      for (const f of r.json.data.files) {
        expect(f.url.startsWith(`http://127.0.0.1:${port}/v1/objects/`)).toBe(true);
        expect(f.url).not.toContain('0.0.0.0');
      }
    }
  });

  it('with api.public_url: every link starts with it, and its path is served by the daemon', async () => {
    await fx.daemon.stop();
    fx.daemon = await startDaemon({ ...fx.config, api: { ...fx.config.api, public_url: 'https://pitrd.example.com/pitr/' } }, { schedules: false, logger: createApiLogger({ level: 'silent' }) });
    const r = await getWithHost(`${base}/backups/${backupId}/download`, 'attacker.example', fx.admin);
    expect(r.status).toBe(200);
    for (const f of r.json.data.files) expect(f.url.startsWith('https://pitrd.example.com/pitr/v1/objects/')).toBe(true);
    const local = r.json.data.download_url.replace('https://pitrd.example.com/pitr', `http://127.0.0.1:${port}`);
    expect((await fetch(local)).status).toBe(200);
    await waitFor('receiver streaming again', async () => (await pg.query<{ n: string }>('SELECT count(*)::text AS n FROM pg_stat_replication'))[0]!.n === '1', 60_000, 50);
  });
});

describe('one daemon per spool', () => {
  it('a second `pitrd serve` on the same config exits with SPOOL_LOCKED naming the holder, having started nothing', async () => {
    const configFile = join(fx.dir, 'pitrd.yaml');
    // JSON is YAML: the same config the running daemon has, as written for the CLI.
    const c = fx.config;
    writeFileSync(configFile, JSON.stringify({ storage: { type: 'fs', path: c.storage.type === 'fs' ? c.storage.path : '' }, compression: 'gzip', spool_dir: c.spool_dir, api: { listen: c.api.listen, tokens_file: c.api.tokens_file } }));
    const before = replicationConnections();
    expect(before).toBeGreaterThan(0);
    const r = await pitrd(['--config', configFile, 'serve']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('SPOOL_LOCKED');
    expect(r.stderr).toContain(`pitrd process ${process.pid}`);
    expect(String(r.stdout)).not.toContain('receiver started');
    expect(String(r.stdout)).not.toContain('repository opened');
    expect(replicationConnections()).toBe(before);
    const rows = await pg.query<{ n: string }>('SELECT count(*)::text AS n FROM pg_stat_replication');
    expect(rows[0]!.n).toBe('1');
    // The holder is untouched.
    expect((await fx.call('GET', `${base}/pitr/receiver-status`)).json.data.status).toBe('running');
  }, 120_000);

  it('a lock left by a process that is gone is taken over; a clean stop removes it', async () => {
    const lock = join(fx.config.spool_dir, SPOOL_LOCK_FILE);
    expect(existsSync(lock)).toBe(true);
    await fx.daemon.stop();
    expect(existsSync(lock)).toBe(false);
    // A PID far above pid_max: no such process.
    writeFileSync(lock, JSON.stringify({ pid: 99_999_999, started: null, nonce: 'dead' }));
    await fx.restart();
    expect(JSON.parse(readFileSync(lock, 'utf8')).pid).toBe(process.pid);
  }, 120_000);
});
