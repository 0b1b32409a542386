/**
 * `pitrd check` against real servers: a database a running daemon protects passes every probe,
 * the archive end to end included; each broken precondition fails with its check named, exit 1,
 * and under --nagios the plugin status (WARNING 1, CRITICAL 2, UNKNOWN 3).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanUp } from '../harness/clean-up.js';
import { cliJson, startPostgres, type PgCluster } from '../harness/index.js';
import { pitrd } from './cli-fixture.js';
import { startDaemonFixture, type DaemonFixture } from './daemon-fixture.js';

let pg: PgCluster;
let minimal: PgCluster;
let fx: DaemonFixture;

/** A config file for the CLI on the daemon's repository, with the given databases. */
function configFile(name: string, databases: Array<Record<string, unknown>>, storage?: string, extra = ''): string {
  const file = join(fx.dir, `${name}.yaml`);
  const dbs = databases.map((d) => `  - ${JSON.stringify(d)}`).join('\n');
  writeFileSync(file, `storage: ${storage ?? JSON.stringify({ type: 'fs', path: join(fx.dir, 'repo') })}\nspool_dir: ${join(fx.dir, 'spool')}\n${extra}databases:\n${dbs}\n`);
  return file;
}

const conn = (c: PgCluster, over: Record<string, unknown> = {}) => ({ host: '127.0.0.1', port: c.port, user: 'postgres', password: c.connection.password, dbname: 'postgres', sslmode: 'disable', ...over });

beforeAll(async () => {
  [pg, minimal] = await Promise.all([startPostgres({ walSegmentSizeMB: 1 }), startPostgres({ settings: { wal_level: 'minimal', max_wal_senders: 0 } })]);
  fx = await startDaemonFixture({ databases: [{ name: 'main', connection: conn(pg) }] }, { schedules: false });
  await pg.query("CREATE ROLE plain LOGIN PASSWORD 'plainpw'");
}, 180_000);

afterAll(() => cleanUp(() => fx?.close(), () => pg?.destroy(), () => minimal?.destroy()), 120_000);

interface CheckJson {
  status: string;
  databases: Array<{ database: string; status: string; checks: Array<{ check: string; status: string; message: string }> }>;
}

describe('pitrd check', () => {
  it('passes every probe for a database the daemon protects, the archive end to end included', async () => {
    const file = configFile('good', [{ name: 'main', connection: conn(pg) }]);
    const r = await pitrd(['-c', file, 'check', '--json']);
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0);
    // The one --json shape of every command (cli-json.test.ts): the API's success envelope.
    expect(JSON.parse(r.stdout)).toMatchObject({ success: true, data: { status: 'ok' } });
    const data = cliJson<CheckJson>(r.stdout);
    expect(data.status).toBe('ok');
    expect(data.databases[0]!.checks.map((c) => `${c.check}:${c.status}`)).toEqual([
      'connection:ok', 'version:ok', 'binaries:ok', 'privileges:ok', 'wal_level:ok', 'max_wal_senders:ok', 'slot:ok', 'replication:ok', 'archive:ok',
    ]);
    const n = await pitrd(['-c', file, 'check', '--nagios', '--no-archive']);
    expect(n.exitCode).toBe(0);
    expect(n.stdout.trim()).toMatch(/^PITRD OK - 1 database\(s\) protected/);
  }, 240_000);

  it('fails on each broken precondition, naming the check (exit 1; Nagios CRITICAL 2)', async () => {
    const cases: Array<{ db: Record<string, unknown>; check: string; says: string }> = [
      { db: { name: 'nobody', connection: conn(pg) }, check: 'slot', says: 'replication slot pitrd_nobody does not exist' },
      { db: { name: 'main', connection: conn(minimal) }, check: 'wal_level', says: 'wal_level = minimal' },
      { db: { name: 'main', connection: conn(pg, { user: 'plain', password: 'plainpw' }) }, check: 'privileges', says: 'role plain lacks REPLICATION' },
      { db: { name: 'main', connection: conn(pg, { password: 'wrong' }) }, check: 'connection', says: 'password authentication failed' },
    ];
    for (const c of cases) {
      const file = configFile(`bad-${c.check}`, [c.db]);
      const r = await pitrd(['-c', file, 'check', '--json', '--archive-timeout', '2']);
      expect(r.exitCode, r.stdout).toBe(1);
      const failed = cliJson<CheckJson>(r.stdout).databases[0]!.checks.find((x) => x.check === c.check);
      expect(failed, r.stdout).toMatchObject({ status: 'critical' });
      expect(failed!.message).toContain(c.says);
      const n = await pitrd(['-c', file, 'check', '--nagios', '--no-archive']);
      expect(n.exitCode, n.stdout).toBe(2);
      expect(n.stdout).toMatch(new RegExp(`^PITRD CRITICAL - .*${c.check}: `));
    }
  }, 300_000);

  it('an unreachable repository is CRITICAL, a bad configuration UNKNOWN (3)', async () => {
    const s3 = JSON.stringify({ type: 's3', endpoint: 'http://127.0.0.1:9', bucket: 'b', access_key_id: 'a', secret_access_key: 's', force_path_style: true });
    const r = await pitrd(['-c', configFile('no-storage', [{ name: 'main', connection: conn(pg) }], s3), 'check', '--nagios']);
    expect(r.exitCode, r.stdout).toBe(2);
    expect(r.stdout).toMatch(/^PITRD CRITICAL - main: repository: STORAGE_UNAVAILABLE/);
    const bad = join(fx.dir, 'invalid.yaml');
    writeFileSync(bad, 'api: { listen: { port: seventy } }\n');
    const u = await pitrd(['-c', bad, 'check', '--nagios']);
    expect(u.exitCode).toBe(3);
    expect(u.stdout).toMatch(/^PITRD UNKNOWN - CONFIG_INVALID: /);
  }, 180_000);

  it("a major without server binaries on this host is a WARNING naming the major (restores would be refused)", async () => {
    const file = configFile('no-binaries', [{ name: 'main', connection: conn(pg) }], undefined, `postgres: { bin_dirs: { "15": ${JSON.stringify(join(fx.dir, 'no-such-bin'))} } }\n`);
    const r = await pitrd(['-c', file, 'check', '--json', '--no-archive']);
    const checks = cliJson<CheckJson>(r.stdout).databases[0]!.checks;
    expect(checks.find((c) => c.check === 'version')).toMatchObject({ status: 'ok', message: expect.stringContaining('PostgreSQL 15') });
    const bin = checks.find((c) => c.check === 'binaries');
    expect(bin, r.stdout).toMatchObject({ status: 'warning' });
    expect(bin!.message).toContain('no PostgreSQL 15 server binaries');
    expect(bin!.message).toContain('postgres.bin_dirs');
    const n = await pitrd(['-c', file, 'check', '--nagios', '--no-archive']);
    expect(n.exitCode, n.stdout).toBe(1);
    expect(n.stdout).toMatch(/^PITRD WARNING - main: binaries: restores and branches of database main will be refused/);
  }, 120_000);

  it('a stopped daemon leaves the slot inactive: WARNING (Nagios 1)', async () => {
    await fx.daemon.stop();
    const file = configFile('stopped', [{ name: 'main', connection: conn(pg) }]);
    const n = await pitrd(['-c', file, 'check', '--nagios', '--no-archive']);
    expect(n.exitCode, n.stdout).toBe(1);
    expect(n.stdout).toMatch(/^PITRD WARNING - main: slot: replication slot pitrd_main exists but no receiver streams from it/);
  }, 120_000);
});
