/**
 * PostgreSQL majors through the real daemon and CLI. Registering a database reads its server's
 * version: 12 and 19 (fake servers speaking just enough protocol: real binaries of those do not
 * exist here) are refused with POSTGRES_VERSION_UNSUPPORTED naming the version, and nothing is
 * stored; a server that cannot be asked is accepted with pg_major null, and when it later answers
 * as 19 its receiver refuses with POSTGRES_VERSION_UNSUPPORTED in receiver-status and health.
 * `GET …/databases/:name` and `pitrd config check` show each database's major and whether this
 * host has restore binaries for it (15: yes; 14: none configured or discovered).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliJson, freePort, startFakePostgres, startPostgres, type FakePostgres, type PgCluster } from '../harness/index.js';
import { runCli } from '../harness/archive-fixture.js';
import { startDaemonFixture, waitFor, type DaemonFixture } from './daemon-fixture.js';

const PASSWORD = 'Versions-pw-16';
let fx: DaemonFixture;
let pg15: PgCluster;
const fakes: FakePostgres[] = [];
let pid = '';

const fake = async (versionNum: number, port?: number) => {
  const f = await startFakePostgres({ versionNum, ...(port !== undefined ? { port } : {}) });
  fakes.push(f);
  return f;
};
const register = (name: string, port: number, extra: Record<string, unknown> = {}) =>
  fx.call('POST', `/projects/${pid}/databases`, { name, host: '127.0.0.1', port, user: 'postgres', password: PASSWORD, dbname: 'postgres', sslmode: 'disable', ...extra });

beforeAll(async () => {
  pg15 = await startPostgres({ password: PASSWORD });
  fx = await startDaemonFixture({}, { schedules: false, healthIntervalMs: 300 });
  pid = (await fx.call('POST', '/projects', { name: 'versions' })).json.data.id as string;
}, 120_000);

afterAll(async () => {
  await fx?.close();
  for (const f of fakes) await f.close();
  await pg15?.stop('immediate');
}, 60_000);

describe('registration reads the server version', () => {
  it('shows the major of a supported server and whether restore binaries exist here', async () => {
    const reg = await register('pg15', pg15.port);
    expect(reg.status).toBe(201);
    expect(reg.json.data).toMatchObject({ name: 'pg15', pg_major: 15, restore_binaries: { available: true } });
    expect((await fx.call('GET', `/projects/${pid}/databases/pg15`)).json.data).toMatchObject({ pg_major: 15, restore_binaries: { available: true } });

    const f14 = await fake(140011);
    const r14 = await register('pg14', f14.port);
    expect(r14.status).toBe(201);
    expect(r14.json.data).toMatchObject({ pg_major: 14, restore_binaries: { available: false } });
    expect(f14.queries).toEqual(["SELECT current_setting('server_version_num') AS v"]);
  }, 60_000);

  for (const [versionNum, major] of [[120022, 12], [190000, 19]] as const) {
    it(`refuses PostgreSQL ${major} with POSTGRES_VERSION_UNSUPPORTED naming the version, storing nothing`, async () => {
      const f = await fake(versionNum);
      const r = await register(`pg${major}`, f.port);
      expect(r.status).toBe(422);
      expect(r.json.error.code).toBe('POSTGRES_VERSION_UNSUPPORTED');
      expect(r.json.error.message).toContain(`PostgreSQL ${major}`);
      expect(r.json.error.message).toContain('13 to 18');
      expect((await fx.call('GET', `/projects/${pid}/databases/pg${major}`)).status).toBe(404);
      expect(await fx.daemon.repo.store.head(`registry/databases/${pid}/pg${major}.json`)).toBeNull();
    }, 30_000);
  }

  it('accepts a server it cannot ask; its receiver then refuses an unsupported major in status and health', async () => {
    const port = await freePort();
    const r = await register('later19', port);
    expect(r.status).toBe(201);
    expect(r.json.data).toMatchObject({ pg_major: null, restore_binaries: null });

    await fake(190000, port);
    expect((await fx.call('POST', `/projects/${pid}/databases/later19/pitr/enable`, {})).status).toBe(200);
    const status = async () => (await fx.call('GET', `/projects/${pid}/databases/later19/pitr/receiver-status`)).json.data;
    await waitFor('receiver refuses the version', async () => (await status())?.last_error?.code === 'POSTGRES_VERSION_UNSUPPORTED', 30_000);
    const st = await status();
    expect(st.status).toBe('error');
    expect(st.last_error.message).toContain('PostgreSQL 19');
    await waitFor('receiver_down names the version', async () => {
      const h = (await fx.call('GET', `/projects/${pid}/databases/later19/health`)).json.data as { alerts: Array<{ kind: string; message: string }> };
      return h.alerts.some((a) => a.kind === 'receiver_down' && a.message.includes('POSTGRES_VERSION_UNSUPPORTED') && a.message.includes('PostgreSQL 19'));
    }, 30_000);
    expect((await fx.call('POST', `/projects/${pid}/databases/later19/pitr/disable`, {})).status).toBe(200);
  }, 90_000);
});

describe('pitrd config check', () => {
  it('shows each configured database’s major and this host’s restore binaries for it', async () => {
    const f14 = await fake(140011);
    const f19 = await fake(190000);
    const down = await freePort();
    const conn = (port: number) => ({ host: '127.0.0.1', port, user: 'postgres', password: PASSWORD, sslmode: 'disable' });
    const file = join(fx.dir, 'versions.yaml');
    writeFileSync(
      file,
      JSON.stringify({
        storage: { type: 'fs', path: join(fx.dir, 'cli-repo') },
        spool_dir: join(fx.dir, 'cli-spool'),
        databases: [
          { name: 'a15', connection: conn(pg15.port) },
          { name: 'b14', connection: conn(f14.port) },
          { name: 'c19', connection: conn(f19.port) },
          { name: 'down', connection: conn(down) },
        ],
      }),
    );
    const r = await runCli(file, ['config', 'check', '--json']);
    expect(r.exitCode).toBe(0);
    const data = cliJson(r.stdout) as { postgres_binaries: Record<string, string | null>; databases: Array<Record<string, unknown>> };
    expect(data.postgres_binaries['15']).toEqual(expect.any(String));
    expect(data.postgres_binaries['14']).toBeNull();
    expect(data.databases).toEqual([
      { database: 'a15', project: 'default', pg_major: 15, supported: true, restore_binaries: { available: true, bin_dir: data.postgres_binaries['15'] } },
      { database: 'b14', project: 'default', pg_major: 14, supported: true, restore_binaries: { available: false, bin_dir: null } },
      { database: 'c19', project: 'default', pg_major: 19, supported: false, restore_binaries: { available: false, bin_dir: null } },
      expect.objectContaining({ database: 'down', pg_major: null, supported: null, restore_binaries: null, error: expect.stringContaining(`127.0.0.1:${down}`) }),
    ]);

    const human = await runCli(file, ['config', 'check']);
    expect(human.exitCode).toBe(0);
    expect(human.stdout).toMatch(/# {3}a15: PostgreSQL 15; restore binaries in \//);
    expect(human.stdout).toContain('#   b14: PostgreSQL 14; no restore binaries on this host');
    expect(human.stdout).toContain('#   c19: PostgreSQL 19 (not supported: pitrd supports 13 to 18)');
    expect(human.stdout).toContain('#   down: major unknown (could not ask the server');
  }, 240_000);
});
