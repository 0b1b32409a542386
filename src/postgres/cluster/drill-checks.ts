/**
 * The checks a restore drill runs on the server it restored (a throwaway local server, never a
 * protected one): amcheck's bt_index_check on every valid B-tree index where the extension is
 * available, a row count of every table, and the configured check queries, which must return
 * true. Every failure names its object; a failure does not stop the other checks.
 */
import pg from 'pg';
import { errorMessage } from '../../errors.js';

export interface DrillCheckTarget {
  /** Directory of the server's Unix socket, and its port. */
  socketDir: string;
  port: number;
  /** A role that exists in the restored cluster (its bootstrap superuser is looked up through it). */
  user: string;
  /** The database the check queries run in. */
  dbname: string;
  checkSql: readonly string[];
}

export interface DrillCheckFailure {
  /** `db.schema.index` (amcheck), `db.schema.table` (row count), `check_sql[i]`, or `db` (connection). */
  object: string;
  code: string;
  message: string;
}

export interface DrillCheckResult {
  databases: number;
  tables: number;
  rows: number;
  indexes_checked: number;
  amcheck_unavailable: string[];
  sql_checks: number;
  /** Row counts per table, `db.schema.table` → rows (capped at MAX_TABLES_LISTED entries). */
  table_rows: Array<{ table: string; rows: number }>;
  failures: DrillCheckFailure[];
}

export const MAX_TABLES_LISTED = 500;

const ident = (s: string) => `"${s.replace(/"/g, '""')}"`;

async function connect(t: DrillCheckTarget, user: string, database: string): Promise<pg.Client> {
  const c = new pg.Client({ host: t.socketDir, port: t.port, user, database, application_name: 'pitrd_drill' });
  // The server may go away under an idle client: never an unhandled 'error' event.
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

/** Run every check; failures are collected, never thrown (a connection that cannot open is one). */
export async function runDrillChecks(t: DrillCheckTarget): Promise<DrillCheckResult> {
  const r: DrillCheckResult = { databases: 0, tables: 0, rows: 0, indexes_checked: 0, amcheck_unavailable: [], sql_checks: 0, table_rows: [], failures: [] };
  const fail = (object: string, err: unknown) => r.failures.push({ object, code: (err as { code?: string })?.code ?? 'ERROR', message: errorMessage(err) });
  let superuser = t.user;
  let databases: string[];
  {
    let c: pg.Client;
    try {
      c = await connect(t, t.user, 'postgres');
    } catch (err) {
      // The `postgres` database may have been dropped on the source: try the configured one.
      try {
        c = await connect(t, t.user, t.dbname);
      } catch {
        fail(t.dbname, err);
        return r;
      }
    }
    try {
      superuser = (await c.query<{ n: string }>('SELECT rolname AS n FROM pg_roles WHERE oid = 10')).rows[0]?.n ?? t.user;
      databases = (await c.query<{ n: string }>('SELECT datname AS n FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY datname')).rows.map((x) => x.n);
    } finally {
      await c.end().catch(() => undefined);
    }
  }
  for (const db of databases) {
    let c: pg.Client;
    try {
      c = await connect(t, superuser, db);
    } catch (err) {
      fail(db, err);
      continue;
    }
    r.databases++;
    try {
      await checkDatabase(c, db, r, fail);
      if (db === t.dbname) await runCheckSql(c, t.checkSql, r, fail);
    } finally {
      await c.end().catch(() => undefined);
    }
  }
  if (t.checkSql.length > 0 && !databases.includes(t.dbname)) {
    t.checkSql.forEach((_, i) => fail(`check_sql[${i}]`, new Error(`database "${t.dbname}" is not in the restored cluster`)));
  }
  return r;
}

async function checkDatabase(c: pg.Client, db: string, r: DrillCheckResult, fail: (object: string, err: unknown) => void): Promise<void> {
  const available = (await c.query('SELECT 1 FROM pg_available_extensions WHERE name = $1', ['amcheck'])).rowCount! > 0;
  let amcheck = false;
  if (available) {
    try {
      // The scratch server is thrown away: creating the extension here touches nothing kept.
      await c.query('CREATE EXTENSION IF NOT EXISTS amcheck');
      amcheck = true;
    } catch (err) {
      fail(`${db}.amcheck`, err);
    }
  } else r.amcheck_unavailable.push(db);
  if (amcheck) {
    const schema = (await c.query<{ s: string }>("SELECT n.nspname AS s FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'amcheck'")).rows[0]!.s;
    const idx = await c.query<{ oid: number; name: string }>(
      `SELECT i.indexrelid::int AS oid, format('%s.%s', n.nspname, ic.relname) AS name
         FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_namespace n ON n.oid = ic.relnamespace JOIN pg_am a ON a.oid = ic.relam
        WHERE a.amname = 'btree' AND i.indisvalid AND i.indisready AND ic.relpersistence <> 't'
        ORDER BY n.nspname, ic.relname`,
    );
    for (const i of idx.rows) {
      try {
        await c.query(`SELECT ${ident(schema)}.bt_index_check($1::oid::regclass)`, [i.oid]);
        r.indexes_checked++;
      } catch (err) {
        fail(`${db}.${i.name}`, err);
      }
    }
  }
  const tables = await c.query<{ oid: number; name: string; q: string }>(
    `SELECT c.oid::int AS oid, format('%s.%s', n.nspname, c.relname) AS name, format('%I.%I', n.nspname, c.relname) AS q
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND c.relpersistence <> 't'
      ORDER BY n.nspname, c.relname`,
  );
  for (const t of tables.rows) {
    try {
      const rows = Number((await c.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${t.q}`)).rows[0]!.n);
      r.tables++;
      r.rows += rows;
      if (r.table_rows.length < MAX_TABLES_LISTED) r.table_rows.push({ table: `${db}.${t.name}`, rows });
    } catch (err) {
      fail(`${db}.${t.name}`, err);
    }
  }
}

async function runCheckSql(c: pg.Client, checks: readonly string[], r: DrillCheckResult, fail: (object: string, err: unknown) => void): Promise<void> {
  for (const [i, sql] of checks.entries()) {
    try {
      const res = await c.query({ text: sql, rowMode: 'array' });
      const v = (res.rows[0] as unknown[] | undefined)?.[0];
      if (res.rows.length !== 1 || v !== true) {
        fail(`check_sql[${i}]`, Object.assign(new Error(`check_sql[${i}] returned ${res.rows.length === 1 ? JSON.stringify(v) : `${res.rows.length} rows`}, expected one row whose first column is true`), { code: 'CHECK_FALSE' }));
      } else r.sql_checks++;
    } catch (err) {
      fail(`check_sql[${i}]`, err);
    }
  }
}
