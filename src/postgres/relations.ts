/**
 * The relation names of a source cluster, for the event index: per database, relation file number
 * → schema.name and relkind, with the server's WAL position taken first (a map names the
 * relations that existed at or after that LSN). Databases that do not allow connections, or
 * that the role cannot connect to, are named without their relations. Shared catalogs are filed
 * under database oid 0.
 */
import type pg from 'pg';
import { withSqlConnection } from './sql-connection.js';
import type { SourceConnection } from './source.js';

export interface RelationMapTaken {
  lsn: string;
  taken_at: string;
  reason: string;
  databases: { oid: number; name: string; relations: [number, string, string][] }[];
}

const LSN_SQL = `SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END)::text AS lsn`;

const RELATIONS_SQL = `
SELECT pg_relation_filenode(c.oid)::int8::text AS f, n.nspname || '.' || c.relname AS name, c.relkind::text AS k, c.relisshared AS shared
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relpersistence <> 't' AND pg_relation_filenode(c.oid) IS NOT NULL
 ORDER BY 1::int8`;

type RelRow = { f: string; name: string; k: string; shared: boolean };

async function relationsOf(c: pg.Client): Promise<RelRow[]> {
  return (await c.query<RelRow>(RELATIONS_SQL)).rows;
}

/** Take the map over SQL (one connection per database that allows connections). */
export async function takeRelationMap(conn: SourceConnection, reason: string): Promise<RelationMapTaken> {
  const home = conn.database ?? 'postgres';
  const { lsn, dbs, homeRows } = await withSqlConnection({ ...conn, database: home, applicationName: 'pitrd_relations' }, async (c) => {
    const l = (await c.query<{ lsn: string }>(LSN_SQL)).rows[0]!.lsn;
    const d = (await c.query<{ oid: string; datname: string; ok: boolean }>(
      `SELECT oid::int8::text AS oid, datname, datallowconn AND NOT datistemplate AND has_database_privilege(oid, 'CONNECT') AS ok FROM pg_database ORDER BY oid`,
    )).rows;
    return { lsn: l, dbs: d, homeRows: await relationsOf(c) };
  });
  const databases: RelationMapTaken['databases'] = [];
  let shared: [number, string, string][] | null = null;
  for (const d of dbs) {
    let rows: RelRow[] = [];
    if (d.datname === home) rows = homeRows;
    else if (d.ok) {
      try {
        rows = await withSqlConnection({ ...conn, database: d.datname, applicationName: 'pitrd_relations' }, relationsOf);
      } catch {
        rows = []; // named without its relations (dropped meanwhile, or refused)
      }
    }
    shared ??= rows.length ? rows.filter((r) => r.shared).map((r) => [Number(r.f), r.name, r.k]) : null;
    databases.push({ oid: Number(d.oid), name: d.datname, relations: rows.filter((r) => !r.shared).map((r) => [Number(r.f), r.name, r.k]) });
  }
  databases.unshift({ oid: 0, name: '(shared catalogs)', relations: shared ?? [] });
  return { lsn: lsn.toUpperCase(), taken_at: new Date().toISOString(), reason, databases };
}
