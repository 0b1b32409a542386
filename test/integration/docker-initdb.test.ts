import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PG_BIN, startPostgres, type PgCluster } from '../harness/index.js';

/**
 * docker/initdb/10-pitrd-replication.sh, the script the postgres image runs on first start,
 * run here against a real PostgreSQL 15 cluster with the variables that image provides.
 */
const root = join(import.meta.dirname, '..', '..');
const script = join(root, 'docker', 'initdb', '10-pitrd-replication.sh');
const ROLE_PASSWORD = "it's a s3cret: with \"quotes\"";

let pg: PgCluster;
beforeAll(async () => {
  pg = await startPostgres();
});
afterAll(async () => {
  await pg?.destroy();
});

function runScript(env: Record<string, string>) {
  return execa('/bin/sh', [script], {
    env: {
      PATH: `${PG_BIN}:${process.env.PATH ?? '/usr/bin:/bin'}`,
      PGHOST: '127.0.0.1',
      PGPORT: String(pg.port),
      PGPASSWORD: pg.connection.password,
      POSTGRES_USER: 'postgres',
      PGDATA: pg.dataDir,
      ...env,
    },
    extendEnv: false,
    reject: false,
  });
}

describe('docker/initdb/10-pitrd-replication.sh', () => {
  it('refuses to run without a replication password', async () => {
    const r = await runScript({});
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain('PITRD_REPLICATION_PASSWORD');
  });

  it('creates a REPLICATION role that can open a replication connection, and a valid replication pg_hba line', async () => {
    const r = await runScript({ PITRD_REPLICATION_USER: 'pitrd', PITRD_REPLICATION_PASSWORD: ROLE_PASSWORD });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);

    const [role] = await pg.query<{ rolreplication: boolean; rolcanlogin: boolean; monitor: boolean }>(
      "SELECT rolreplication, rolcanlogin, pg_has_role('pitrd', 'pg_monitor', 'MEMBER') AS monitor FROM pg_roles WHERE rolname = 'pitrd'",
    );
    expect(role).toEqual({ rolreplication: true, rolcanlogin: true, monitor: true });

    expect(readFileSync(join(pg.dataDir, 'pg_hba.conf'), 'utf8')).toMatch(/\nhost replication pitrd all scram-sha-256\n$/);
    await pg.query('SELECT pg_reload_conf()');
    const rules = await pg.query<{ error: string | null }>("SELECT error FROM pg_hba_file_rules WHERE 'pitrd' = ANY(user_name)");
    expect(rules).toEqual([{ error: null }]);

    // The password (quotes and all) works for the physical replication protocol.
    const sys = await execa(join(PG_BIN, 'psql'), ['-XAt', '-c', 'IDENTIFY_SYSTEM;', `host=127.0.0.1 port=${pg.port} user=pitrd dbname=postgres replication=true`], {
      env: { ...process.env, PGPASSWORD: ROLE_PASSWORD },
      reject: false,
    });
    expect(sys.stderr).toBe('');
    expect(sys.stdout.split('|')[0]).toBe(await pg.systemIdentifier());
  });
});
