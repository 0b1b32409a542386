/**
 * What a hostile source server, or a hostile request, can make a restore do — through the real
 * daemon (in-process, fs repository) and a real PostgreSQL 15 source.
 *
 * Injection: restore points really created on the source with backslash, quote and newline
 * characters; a backslash-quote name restores exactly to its point (the config grammar's quoting
 * is right), a name with a newline is refused before anything is written (it would add a line to
 * postgresql.auto.conf), and so are labels with control characters and out-of-range xids.
 *
 * A hostile source configuration: the source sets commands (recovery_end_command,
 * archive_cleanup_command, ssl_passphrase_command), libraries that do not exist, a recovery
 * target of its own, and (in postgresql.conf itself) an include, hba_file and data_directory
 * elsewhere; a base backup is taken; a restore and a branch to `latest` run: no command's file
 * appears, both succeed, and the restored postmasters' environment holds none of the daemon's.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanUp, startPostgres, type PgCluster } from '../harness/index.js';
import { markerIdsAt, queryUri, startDaemonFixture, waitFor, type DaemonFixture } from './daemon-fixture.js';

const PASSWORD = 'Hs9-hostile-Secret-pw';
let source: PgCluster;
let fx: DaemonFixture;
let base: string;
const tag = randomBytes(4).toString('hex');
/** Files an injected or source-set command would create (postgres can write /tmp). */
const pwned = (what: string) => `/tmp/pw-${tag}-${what}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A restore point name a config writer that only doubles quotes turns into a second line. */
const BACKSLASH_QUOTE = "rp\\'1\\";
const INJECTION = `\\'\nrecovery_end_command='touch ${pwned('rp')}'\n#`;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- route JSON, asserted field by field
async function untilFinished(id: string): Promise<any> {
  return waitFor(`restore ${id} to finish`, async () => {
    const r = await fx.call('GET', `${base}/pitr/restores/${id}`);
    return r.json.data.status === 'running' || r.json.data.status === 'pending' ? null : r.json.data;
  }, 180_000, 200);
}

const restoreCount = async () => (await fx.call('GET', `${base}/pitr/restores`)).json.data.total_count as number;

async function insertRow(): Promise<void> {
  await sleep(200);
  await source.query('INSERT INTO marker DEFAULT VALUES');
  await source.query('SELECT pg_switch_wal()');
}

beforeAll(async () => {
  expect(Buffer.byteLength(INJECTION)).toBeLessThanOrEqual(63);
  source = await startPostgres({ walSegmentSizeMB: 1, password: PASSWORD });
  await source.query('CREATE TABLE marker (id serial PRIMARY KEY)');
  fx = await startDaemonFixture({}, { schedules: false, summaryIntervalMs: 500 });
  const projectId = (await fx.call('POST', '/projects', { name: 'hostile' })).json.data.id;
  expect((await fx.call('POST', `/projects/${projectId}/databases`, { name: 'main', host: '127.0.0.1', port: source.port, user: 'postgres', password: PASSWORD, dbname: 'postgres', sslmode: 'disable' })).status).toBe(201);
  base = `/projects/${projectId}/databases/main`;
  expect((await fx.call('POST', `${base}/pitr/enable`)).status).toBe(200);
  await waitFor('receiver running', async () => (await fx.call('GET', `${base}/pitr/receiver-status`)).json.data?.status === 'running');
  const b = await fx.call('POST', `${base}/backups`, { label: 'benign' });
  expect(b.status).toBe(202);
  await waitFor('backup completed', async () => (await fx.call('GET', `${base}/backups/${b.json.data.id}`)).json.data.status === 'completed', 120_000, 200);
  await insertRow();
  // The names are created by the source itself: pitrd finds them in the archived WAL.
  await source.query('SELECT pg_create_restore_point($1)', [BACKSLASH_QUOTE]);
  await source.query('SELECT pg_create_restore_point($1)', [INJECTION]);
  await insertRow();
  await source.query('CREATE TABLE tail (id int)');
  await source.query('SELECT pg_switch_wal()');
  await waitFor('the restore points summarised', async () => {
    const d = (await fx.call('GET', `${base}/pitr/recovery-window`)).json.data;
    return d.status === 'ok';
  }, 120_000, 250);
}, 240_000);

afterAll(() => cleanUp(() => fx?.close(), () => source?.destroy()), 120_000);

describe('recovery settings cannot be injected', () => {
  it('restores to a restore point named with a backslash and a quote, exactly to it', async () => {
    const r = await fx.call('POST', `${base}/pitr/restore`, { target_name: BACKSLASH_QUOTE, mode: 'running' });
    expect(r.status, JSON.stringify(r.json)).toBe(202);
    const done = await untilFinished(r.json.data.restore_id);
    expect(done, done.error).toMatchObject({ status: 'completed', target_name: BACKSLASH_QUOTE });
    expect(await markerIdsAt(done.connection_uri, PASSWORD)).toEqual([1]);
  }, 240_000);

  it('refuses a restore point name with a newline before anything is written, for restores and branches', async () => {
    const before = await restoreCount();
    for (const [url, body] of [
      [`${base}/pitr/restore`, { target_name: INJECTION }],
      [`${base}/branches`, { branch_name: 'inj', target_name: INJECTION }],
    ] as const) {
      const r = await fx.call('POST', url, body);
      expect(r.status, url).toBe(400);
      expect(r.json.error.code).toBe('VALIDATION_ERROR');
      expect(r.json.error.message).toMatch(/body\.target_name.*control character \(U\+000A/);
    }
    expect(await restoreCount()).toBe(before);
    expect(existsSync(pwned('rp'))).toBe(false);
  });

  it('range-checks target_xid before anything is written', async () => {
    const before = await restoreCount();
    for (const xid of ['18446744073709551616', '2', 1]) {
      const r = await fx.call('POST', `${base}/pitr/restore`, { target_xid: xid });
      expect(r.status, String(xid)).toBe(400);
      expect(r.json.error.code).toBe('VALIDATION_ERROR');
      expect(r.json.error.message).toMatch(/out of range/);
    }
    expect(await restoreCount()).toBe(before);
  });

  it('refuses backup labels with a newline or a NUL before the backup starts', async () => {
    const before = (await fx.call('GET', `${base}/backups`)).json.data.total_count;
    for (const label of ['two\nlines', 'nul\u0000byte', 'tab\there']) {
      const r = await fx.call('POST', `${base}/backups`, { label });
      expect(r.status, JSON.stringify(label)).toBe(400);
      expect(r.json.error.code).toBe('VALIDATION_ERROR');
      expect(r.json.error.message).toMatch(/body\.label.*control character/);
    }
    expect((await fx.call('GET', `${base}/backups`)).json.data.total_count).toBe(before);
    // Quotes and backslashes are fine: they are quoted, not refused.
    const ok = await fx.call('POST', `${base}/backups`, { label: "it's a \\ label" });
    expect(ok.status).toBe(202);
    const done = await waitFor('labelled backup completed', async () => {
      const d = (await fx.call('GET', `${base}/backups/${ok.json.data.id}`)).json.data;
      if (d.status === 'failed') throw new Error(d.error);
      return d.status === 'completed' ? d : null;
    }, 120_000, 200);
    expect(done.label).toBe("it's a \\ label");
  }, 180_000);
});

/** The environment of a running postmaster, from its data directory's postmaster.pid. */
function postmasterEnv(dataDir: string): Record<string, string> {
  const pid = readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]!.trim();
  const env: Record<string, string> = {};
  for (const kv of readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean)) {
    const at = kv.indexOf('=');
    env[kv.slice(0, at)] = kv.slice(at + 1);
  }
  return env;
}

describe("a source's own configuration does not run on the pitrd host", () => {
  const CANARY = `canary-${tag}`;
  const ran = ['end', 'env', 'cleanup', 'ssl'];

  beforeAll(async () => {
    // Secrets in the daemon's environment (the test process is the daemon's).
    process.env.AWS_SECRET_ACCESS_KEY = CANARY;
    process.env.PITRD_ENCRYPTION_KEY_CANARY = CANARY;
    for (const [k, v] of [
      ['recovery_end_command', `touch ${pwned('end')}; env > ${pwned('env')}`],
      ['archive_cleanup_command', `touch ${pwned('cleanup')}`],
      ['ssl_passphrase_command', `touch ${pwned('ssl')}`],
      ['ssl', 'on'],
      ['shared_preload_libraries', 'pitrd_no_such_library'],
      ['session_preload_libraries', 'pitrd_no_such_library'],
      ['dynamic_library_path', `/tmp/pw-${tag}-lib`],
      ['listen_addresses', '*'],
      ['log_min_messages', 'fatal'],
      ['recovery_target_name', 'pitrd_no_such_point'],
      ['recovery_min_apply_delay', '1h'],
    ]) await source.query(`ALTER SYSTEM SET ${k} = '${v!.replace(/'/g, "''")}'`);
    // What ALTER SYSTEM refuses, the owner of the source's files can still write.
    appendFileSync(join(source.dataDir, 'postgresql.conf'), `\ninclude_if_exists = '${pwned('include')}'\nhba_file = '/nonexistent/pg_hba.conf'\ndata_directory = '/nonexistent/data'\n`);
    // Never reloaded: the source keeps running with its old settings; only the backup has these.
    const b = await fx.call('POST', `${base}/backups`, { label: 'hostile' });
    expect(b.status).toBe(202);
    await waitFor('hostile backup completed', async () => {
      const d = (await fx.call('GET', `${base}/backups/${b.json.data.id}`)).json.data;
      if (d.status === 'failed') throw new Error(d.error);
      return d.status === 'completed';
    }, 120_000, 200);
    await insertRow();
  }, 180_000);

  afterAll(() => {
    delete process.env.AWS_SECRET_ACCESS_KEY;
    delete process.env.PITRD_ENCRYPTION_KEY_CANARY;
  });

  async function assertNeutralised(dataDir: string, uri: string): Promise<void> {
    // The source's settings are still in the restored files: they were overridden, not lost.
    expect(readFileSync(join(dataDir, 'postgresql.auto.conf'), 'utf8')).toContain('recovery_end_command');
    const env = postmasterEnv(dataDir);
    expect(JSON.stringify(env)).not.toContain(CANARY);
    expect(Object.keys(env).sort()).toEqual(expect.arrayContaining(['LC_ALL', 'PATH']));
    // pitrd's allow-list, and what pg_ctl's shell and the postmaster set themselves.
    const allowed = ['HOME', 'LC_ALL', 'LOGNAME', 'PATH', 'TMPDIR', 'TZ', 'USER', 'PGDATA', 'PG_GRANDPARENT_PID', 'PGLOCALEDIR', 'PGSYSCONFDIR', 'PWD'];
    expect(Object.keys(env).filter((k) => !allowed.includes(k))).toEqual([]);
    const show = async (name: string) => (await queryUriOne(uri, `SELECT current_setting('${name}') AS v`)).v;
    expect(await show('shared_preload_libraries')).toBe('');
    expect(await show('listen_addresses')).toBe('127.0.0.1');
    expect(await show('recovery_end_command')).toBe('');
    expect(await show('data_directory')).toBe(dataDir);
  }

  const queryUriOne = async (uri: string, text: string) => (await queryUri<{ v: string }>(uri, PASSWORD, text))[0]!;

  it('a restore left running reaches latest with none of it run', async () => {
    const r = await fx.call('POST', `${base}/pitr/restore`, { target: 'latest', mode: 'running' });
    expect(r.status, JSON.stringify(r.json)).toBe(202);
    const done = await untilFinished(r.json.data.restore_id);
    expect(done, done.error).toMatchObject({ status: 'completed' });
    expect(await markerIdsAt(done.connection_uri, PASSWORD)).toEqual([1, 2, 3]);
    await assertNeutralised(done.target_dir, done.connection_uri);
    for (const f of ran) expect(existsSync(pwned(f)), f).toBe(false);
  }, 240_000);

  it('the daemon says which of its own files the restore OS user can read', () => {
    if (process.getuid?.() !== 0) return; // not root: restored servers run as the daemon's own user
    const warned = fx.logs.filter((l) => l.includes('can be read by the postgres OS user'));
    // The fixture keeps its repository in a directory the postgres user owns: flagged. Its tokens
    // file is root's, mode 0600: not.
    expect(warned.some((l) => l.includes(join(fx.dir, 'repo')))).toBe(true);
    expect(warned.some((l) => l.includes('tokens.json'))).toBe(false);
  });

  it('a branch runs with none of it either', async () => {
    const r = await fx.call('POST', `${base}/branches`, { branch_name: 'hostile', target: 'latest' });
    expect(r.status, JSON.stringify(r.json)).toBe(202);
    const b = await waitFor('branch running', async () => {
      const d = (await fx.call('GET', `${base}/branches/${r.json.data.id}`)).json.data;
      if (d.status === 'failed') throw new Error(`branch failed: ${d.error}`);
      return d.status === 'running' ? d : null;
    }, 180_000, 200);
    expect(await markerIdsAt(b.connection_uri, PASSWORD)).toEqual([1, 2, 3]);
    await assertNeutralised(b.data_dir, b.connection_uri);
    for (const f of ran) expect(existsSync(pwned(f)), f).toBe(false);
  }, 240_000);
});
