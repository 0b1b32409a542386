/**
 * TLS to the protected servers, libpq's sslmode on every connection pitrd opens to them: the
 * receiver's replication and SQL connections and the base backup's replication and SQL
 * connections. Two real PostgreSQL 15 clusters shared by the file: one with `ssl = on` and a
 * certificate chain made here with openssl (root CA → server certificate for localhost and
 * 127.0.0.1; client certificate for `cert` authentication; an unrelated second CA), one with
 * `ssl = off`. What the server saw is read on the server: pg_stat_ssl for open connections, the
 * log_connections lines for the daemon's short-lived base-backup connections.
 */
import { readFileSync, rmSync, chmodSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BaseBackupConnection, ReplicationConnection, SqlConnection, withSqlConnection } from '../../src/postgres/index.js';
import { isPitrdError } from '../../src/errors.js';
import type { SourceConnection, SourceTls } from '../../src/postgres/index.js';
import { cleanUp, makeCertificates, startPostgres, type PgCluster, type TestCertificates } from '../harness/index.js';
import { startDaemonFixture, waitFor, type DaemonFixture } from './daemon-fixture.js';

const PASSWORD = 'Tls-source-Secret-pw';
const CLIENT_USER = 'pitrd_cert';
const TLS_ONLY_USER = 'pitrd_tls_only';
const TLS_ONLY_PW = 'Tls-only-Secret-pw';

let certs: TestCertificates;
let tlsPg: PgCluster;
let plainPg: PgCluster;

beforeAll(async () => {
  certs = await makeCertificates(CLIENT_USER);
  const hba = [
    `hostssl all ${CLIENT_USER} 127.0.0.1/32 cert`,
    `hostssl replication ${CLIENT_USER} 127.0.0.1/32 cert`,
    `hostnossl all ${TLS_ONLY_USER} 127.0.0.1/32 reject`,
    `hostnossl replication ${TLS_ONLY_USER} 127.0.0.1/32 reject`,
  ];
  [tlsPg, plainPg] = await Promise.all([
    startPostgres({
      password: PASSWORD,
      hba,
      settings: {
        ssl: 'on',
        ssl_cert_file: `'${certs.serverCert}'`,
        ssl_key_file: `'${certs.serverKey}'`,
        ssl_ca_file: `'${certs.ca}'`,
        // 127.0.0.2 reaches the same server under an address its certificate does not name.
        listen_addresses: "'127.0.0.1,127.0.0.2'",
        log_connections: 'on',
      },
    }),
    startPostgres({ password: PASSWORD, settings: { ssl: 'off', log_connections: 'on' } }),
  ]);
  await tlsPg.query(`CREATE ROLE ${CLIENT_USER} LOGIN REPLICATION`);
  await tlsPg.query(`CREATE ROLE ${TLS_ONLY_USER} LOGIN REPLICATION PASSWORD '${TLS_ONLY_PW}'`);
}, 120_000);

afterAll(
  () =>
    cleanUp(
      () => tlsPg?.destroy(),
      () => plainPg?.destroy(),
      async () => {
        if (certs) rmSync(certs.dir, { recursive: true, force: true });
      },
    ),
  60_000,
);

type Expect = 'tls' | 'plain' | { code: string; reason?: string };

interface Case {
  what: string;
  server: () => PgCluster;
  tls: () => SourceTls;
  host?: string;
  user?: 'cert' | 'tls-only';
  expect: Expect;
}

const on = () => tlsPg;
const off = () => plainPg;
const CASES: Case[] = [
  { what: 'disable: plain although the server offers TLS', server: on, tls: () => ({ sslmode: 'disable' }), expect: 'plain' },
  { what: 'allow: plain first, and the server accepts it', server: on, tls: () => ({ sslmode: 'allow' }), expect: 'plain' },
  { what: 'allow: TLS when the server refuses plain (hostnossl reject)', server: on, tls: () => ({ sslmode: 'allow' }), user: 'tls-only', expect: 'tls' },
  { what: 'prefer: TLS when offered', server: on, tls: () => ({ sslmode: 'prefer' }), expect: 'tls' },
  { what: 'prefer: plain when the certificate check of sslrootcert fails (libpq falls back)', server: on, tls: () => ({ sslmode: 'prefer', sslrootcert: certs.otherCa }), expect: 'plain' },
  { what: 'require: TLS without checking the certificate', server: on, tls: () => ({ sslmode: 'require' }), host: '127.0.0.2', expect: 'tls' },
  { what: 'require with sslrootcert checks the chain (as verify-ca): wrong CA refused', server: on, tls: () => ({ sslmode: 'require', sslrootcert: certs.otherCa }), expect: { code: 'POSTGRES_TLS_FAILED', reason: 'untrusted_certificate' } },
  { what: 'verify-ca: the right CA', server: on, tls: () => ({ sslmode: 'verify-ca', sslrootcert: certs.ca }), expect: 'tls' },
  { what: 'verify-ca: the host name is not checked', server: on, tls: () => ({ sslmode: 'verify-ca', sslrootcert: certs.ca }), host: '127.0.0.2', expect: 'tls' },
  { what: 'verify-ca: a wrong CA is refused', server: on, tls: () => ({ sslmode: 'verify-ca', sslrootcert: certs.otherCa }), expect: { code: 'POSTGRES_TLS_FAILED', reason: 'untrusted_certificate' } },
  { what: 'verify-full: the right CA and address', server: on, tls: () => ({ sslmode: 'verify-full', sslrootcert: certs.ca }), expect: 'tls' },
  { what: 'verify-full: the right CA and host name', server: on, tls: () => ({ sslmode: 'verify-full', sslrootcert: certs.ca }), host: 'localhost', expect: 'tls' },
  { what: 'verify-full: an address the certificate does not name is refused', server: on, tls: () => ({ sslmode: 'verify-full', sslrootcert: certs.ca }), host: '127.0.0.2', expect: { code: 'POSTGRES_TLS_FAILED', reason: 'host_name_mismatch' } },
  { what: 'verify-full: a wrong CA is refused', server: on, tls: () => ({ sslmode: 'verify-full', sslrootcert: certs.otherCa }), expect: { code: 'POSTGRES_TLS_FAILED', reason: 'untrusted_certificate' } },
  { what: 'verify-full without sslrootcert: a private CA is not in the bundled roots', server: on, tls: () => ({ sslmode: 'verify-full' }), expect: { code: 'POSTGRES_TLS_FAILED', reason: 'untrusted_certificate' } },
  { what: 'verify-full with a client certificate (cert authentication)', server: on, tls: () => ({ sslmode: 'verify-full', sslrootcert: certs.ca, sslcert: certs.clientCert, sslkey: certs.clientKey }), user: 'cert', expect: 'tls' },
  { what: 'cert authentication without a client certificate is refused by the server', server: on, tls: () => ({ sslmode: 'verify-full', sslrootcert: certs.ca }), user: 'cert', expect: { code: 'REPLICATION_NOT_PERMITTED' } },
  { what: 'disable on a server without TLS', server: off, tls: () => ({ sslmode: 'disable' }), expect: 'plain' },
  { what: 'allow on a server without TLS', server: off, tls: () => ({ sslmode: 'allow' }), expect: 'plain' },
  { what: 'prefer falls back to plain on a server without TLS', server: off, tls: () => ({ sslmode: 'prefer' }), expect: 'plain' },
  { what: 'require on a server without TLS is refused', server: off, tls: () => ({ sslmode: 'require' }), expect: { code: 'POSTGRES_TLS_UNAVAILABLE', reason: 'server_without_tls' } },
  { what: 'verify-ca on a server without TLS is refused', server: off, tls: () => ({ sslmode: 'verify-ca', sslrootcert: certs.ca }), expect: { code: 'POSTGRES_TLS_UNAVAILABLE', reason: 'server_without_tls' } },
  { what: 'verify-full on a server without TLS is refused', server: off, tls: () => ({ sslmode: 'verify-full', sslrootcert: certs.ca }), expect: { code: 'POSTGRES_TLS_UNAVAILABLE', reason: 'server_without_tls' } },
  { what: 'a Unix-domain socket never uses TLS, whatever the mode (libpq)', server: on, tls: () => ({ sslmode: 'verify-full', sslrootcert: certs.ca }), host: 'socket', expect: 'plain' },
];

/** Each kind of connection pitrd opens to a source: open it, held until the returned close. */
const KINDS: Record<string, { serverName: (app: string) => string; open: (c: SourceConnection & { database: string }, app: string) => Promise<() => Promise<void>> }> = {
  'receiver replication': {
    serverName: (app) => app,
    async open(c, app) {
      const r = await ReplicationConnection.open({ ...c, applicationName: app });
      return () => r.close();
    },
  },
  'receiver SQL': {
    serverName: (app) => `${app}_monitor`,
    async open(c, app) {
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      let opened!: () => void;
      const ready = new Promise<void>((r) => (opened = r));
      const done = withSqlConnection({ ...c, applicationName: app }, async () => {
        opened();
        await held;
      });
      await Promise.race([ready, done]);
      return async () => {
        release();
        await done;
      };
    },
  },
  'base backup replication': {
    serverName: (app) => app,
    async open(c, app) {
      const b = await BaseBackupConnection.open(c, app);
      return () => b.close();
    },
  },
  'base backup SQL': {
    serverName: (app) => app,
    async open(c, app) {
      const s = await SqlConnection.open(c, app);
      return () => s.close();
    },
  },
};

function connectionFor(k: Case, name: string): SourceConnection & { database: string } {
  const server = k.server();
  const host = k.host === 'socket' ? join(dirname(server.dataDir), 'sock') : (k.host ?? '127.0.0.1');
  const who =
    k.user === 'cert' ? { user: CLIENT_USER } : k.user === 'tls-only' ? { user: TLS_ONLY_USER, password: TLS_ONLY_PW } : { user: 'postgres', password: PASSWORD };
  return { name, host, port: server.port, database: 'postgres', tls: k.tls(), ...who };
}

/** What the server says about the connections with these application names: TLS or not. */
async function serverSeesTls(server: PgCluster, apps: string[]): Promise<Map<string, boolean>> {
  const rows = await server.query<{ app: string; ssl: boolean }>(
    'SELECT a.application_name AS app, s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.application_name = ANY($1)',
    [apps],
  );
  expect(rows.length, 'one server process per connection').toBe(new Set(rows.map((r) => r.app)).size);
  return new Map(rows.map((r) => [r.app, r.ssl]));
}

describe('sslmode on every connection to a source', () => {
  CASES.forEach((k, i) => {
    it(k.what, async () => {
      const name = `tls-case-${i}`;
      const conn = connectionFor(k, name);
      // Every kind at once, held open together: one look at the server sees them all.
      const kinds = Object.entries(KINDS).map(([kind, how], j) => ({ kind, app: `tls_t${i}_k${j}`, how }));
      const opened = await Promise.all(kinds.map((x) => x.how.open(conn, x.app).then((close) => ({ close, err: null }), (err: unknown) => ({ close: null, err }))));
      try {
        if (typeof k.expect === 'string') {
          const seen = await serverSeesTls(k.server(), kinds.map((x) => x.how.serverName(x.app)));
          const want = Object.fromEntries(kinds.map((x, j) => [x.kind, opened[j]!.err === null ? k.expect === 'tls' : String(opened[j]!.err)]));
          expect(Object.fromEntries(kinds.map((x) => [x.kind, seen.get(x.how.serverName(x.app)) ?? 'not connected']))).toEqual(want);
          return;
        }
        for (const [j, { kind }] of kinds.entries()) {
          const err = opened[j]!.err;
          expect(isPitrdError(err), `${kind}: ${String(err)}`).toBe(true);
          if (!isPitrdError(err)) continue;
          expect(err.code, `${kind}: ${err.message}`).toBe(k.expect.code);
          if (k.expect.reason) {
            expect(err.context.reason, kind).toBe(k.expect.reason);
            // The typed TLS errors name the database and the mode.
            expect(err.message).toContain(`database "${name}"`);
            expect(err.message).toContain(`sslmode ${conn.tls!.sslmode}`);
          }
        }
      } finally {
        await Promise.all(opened.map((o) => o.close?.()));
      }
    });
  });

  it('refuses a client key that others can read, naming the database and the key (libpq: 0600)', async () => {
    chmodSync(certs.clientKey, 0o644);
    try {
      const k = CASES.find((c) => c.user === 'cert' && c.expect === 'tls')!;
      const err = await SqlConnection.open(connectionFor(k, 'loose-key'), 'tls_loose_key').then(
        (s) => s.close().then(() => null),
        (e: unknown) => e,
      );
      expect(isPitrdError(err, 'CONFIG_INVALID')).toBe(true);
      expect((err as Error).message).toContain('database "loose-key"');
      expect((err as Error).message).toContain('connection.sslkey');
      expect((err as Error).message).toMatch(/group or world access/);
    } finally {
      chmodSync(certs.clientKey, 0o600);
    }
  });

  it('PGSSLMODE in the environment changes nothing: the configured sslmode wins', async () => {
    const before = process.env.PGSSLMODE;
    process.env.PGSSLMODE = 'disable';
    try {
      const k = CASES.find((c) => c.what.startsWith('verify-full: the right CA and address'))!;
      const close = await KINDS['base backup replication']!.open(connectionFor(k, 'env'), 'tls_env');
      try {
        expect((await serverSeesTls(tlsPg, ['tls_env'])).get('tls_env')).toBe(true);
      } finally {
        await close();
      }
    } finally {
      if (before === undefined) delete process.env.PGSSLMODE;
      else process.env.PGSSLMODE = before;
    }
  });
});

describe('through the daemon: receiver, base backup and slot queries honour the configured TLS', () => {
  let fx: DaemonFixture;
  const base = '/projects/tls/databases';

  beforeAll(async () => {
    fx = await startDaemonFixture(
      {
        databases: [
          {
            name: 'secure',
            project: 'tls',
            connection: { host: '127.0.0.1', port: tlsPg.port, user: CLIENT_USER, dbname: 'postgres', sslmode: 'verify-full', sslrootcert: certs.ca, sslcert: certs.clientCert, sslkey: certs.clientKey },
          },
          {
            name: 'refused',
            project: 'tls',
            connection: { host: '127.0.0.1', port: plainPg.port, user: 'postgres', password: PASSWORD, dbname: 'postgres', sslmode: 'verify-full', sslrootcert: certs.ca },
          },
        ],
      },
      { schedules: false },
    );
  }, 120_000);

  afterAll(() => cleanUp(() => fx?.close()), 60_000);

  /** The server's log_connections lines for a role. */
  const authorized = (server: PgCluster, user: string) => readFileSync(server.logFile, 'utf8').split('\n').filter((l) => l.includes('connection authorized') && l.includes(`user=${user} `));

  it('streams WAL over TLS with a client certificate (pg_stat_ssl of its walsender)', async () => {
    await waitFor('the secure receiver streaming', async () => (await fx.call('GET', `${base}/secure/pitr/receiver-status`)).json.data?.status === 'running', 60_000);
    const rows = await tlsPg.query<{ ssl: boolean; client_dn: string | null }>(
      "SELECT s.ssl, s.client_dn FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.usename = $1 AND a.backend_type = 'walsender'",
      [CLIENT_USER],
    );
    expect(rows).toEqual([{ ssl: true, client_dn: `/CN=${CLIENT_USER}` }]);
  });

  it('takes a base backup whose connections all use TLS (server log)', async () => {
    const started = await fx.call('POST', `${base}/secure/backups`, { label: 'over tls' });
    expect(started.status).toBe(202);
    const id: string = started.json.data.id;
    const done = await waitFor(`backup ${id}`, async () => {
      const r = await fx.call('GET', `${base}/secure/backups/${id}`);
      return r.json.data.status === 'pending' || r.json.data.status === 'running' ? null : r.json.data;
    }, 120_000);
    expect(done).toMatchObject({ status: 'completed', error: null });
    const lines = authorized(tlsPg, CLIENT_USER);
    const backupLines = lines.filter((l) => l.includes(`application_name=pitrd ${id}`));
    // Its SQL connection and its replication connection.
    expect(backupLines.some((l) => l.includes('replication connection authorized'))).toBe(true);
    expect(backupLines.some((l) => !l.includes('replication connection authorized'))).toBe(true);
    // Every connection of the daemon as this role (receiver, backup, slot queries) was encrypted.
    expect(lines.length).toBeGreaterThanOrEqual(4);
    expect(lines.filter((l) => !l.includes('SSL enabled'))).toEqual([]);
  });

  it('refuses a server without TLS under verify-full: typed error naming the database, nothing sent in the clear', async () => {
    const st = await waitFor('the refused receiver reporting its error', async () => {
      const r = await fx.call('GET', `${base}/refused/pitr/receiver-status`);
      return r.json.data?.last_error ? r.json.data : null;
    }, 60_000);
    expect(st.last_error.code).toBe('POSTGRES_TLS_UNAVAILABLE');
    expect(st.last_error.message).toContain('database "refused"');
    expect(st.last_error.message).toContain('sslmode verify-full requires TLS');

    const started = await fx.call('POST', `${base}/refused/backups`, {});
    expect(started.status).toBe(202);
    const id: string = started.json.data.id;
    // It fails in its preflight, before anything is written: no backup record, the daemon logs why.
    const failure = await waitFor(`backup ${id} to fail`, () => {
      const line = fx.logs.map((l) => JSON.parse(l) as { msg?: string; backup?: string; err?: { code: string; message: string; stack?: string } }).find((l) => l.msg === 'base backup failed' && l.backup === id);
      return line ?? null;
    }, 60_000);
    expect(failure.err?.code).toBe('POSTGRES_TLS_UNAVAILABLE');
    expect(failure.err?.message).toContain('database "refused"');
    expect(failure.err?.message).toContain('sslmode verify-full requires TLS');
    expect(failure.err?.stack).toBeTypeOf('string');
    expect((await fx.call('GET', `${base}/refused/backups/${id}`)).status).toBe(404);
    // The server never authorized a connection of the daemon (its own superuser queries name no application).
    expect(authorized(plainPg, 'postgres').filter((l) => l.includes('application_name=pitrd'))).toEqual([]);
  });

  it('applies the sslmode of databases registered through the API', async () => {
    const project = (await fx.call('POST', '/projects', { name: 'tls-api' })).json.data.id as string;
    const dbs = `/projects/${project}/databases`;
    const register = (name: string, server: PgCluster, sslmode: string) =>
      fx.call('POST', dbs, { name, host: '127.0.0.1', port: server.port, user: 'postgres', password: PASSWORD, dbname: 'postgres', sslmode });
    expect((await register('api-require', tlsPg, 'require')).status).toBe(201);
    expect((await register('api-verify', plainPg, 'verify-full')).status).toBe(201);
    expect((await fx.call('POST', `${dbs}/api-require/pitr/enable`, {})).status).toBe(200);
    expect((await fx.call('POST', `${dbs}/api-verify/pitr/enable`, {})).status).toBe(200);

    await waitFor('api-require streaming', async () => (await fx.call('GET', `${dbs}/api-require/pitr/receiver-status`)).json.data?.status === 'running', 60_000);
    const rows = await tlsPg.query<{ ssl: boolean }>(
      "SELECT s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.usename = 'postgres' AND a.backend_type = 'walsender'",
    );
    expect(rows).toEqual([{ ssl: true }]);

    const st = await waitFor('api-verify reporting its error', async () => {
      const r = await fx.call('GET', `${dbs}/api-verify/pitr/receiver-status`);
      return r.json.data?.last_error ? r.json.data : null;
    }, 60_000);
    expect(st.last_error.code).toBe('POSTGRES_TLS_UNAVAILABLE');
    expect(st.last_error.message).toContain('database "api-verify"');
    expect(authorized(plainPg, 'postgres').filter((l) => l.includes('application_name=pitrd'))).toEqual([]);
  });
});
