/**
 * SQL questions about a source server's readiness for pitrd: the role's rights and the settings
 * physical replication needs (`pitrd check`, the base backup's early refusal), and the WAL switch
 * that tests the archive end to end. Answers are returned as read; judging them is the caller's.
 */
import type pg from 'pg';

/** The connected role's attributes; null when pg_roles does not show it. */
export async function queryRoleRights(client: pg.Client): Promise<{ replication: boolean; superuser: boolean } | null> {
  const row = (await client.query<{ rolreplication: boolean; rolsuper: boolean }>('SELECT rolreplication, rolsuper FROM pg_roles WHERE rolname = current_user')).rows[0];
  return row ? { replication: row.rolreplication, superuser: row.rolsuper } : null;
}

export interface ReplicationSettings {
  wal_level?: string;
  max_wal_senders?: string;
  max_replication_slots?: string;
}

/** The settings a physical replication client needs (absent: the server did not show it). */
export async function queryReplicationSettings(client: pg.Client): Promise<ReplicationSettings> {
  const rows = (await client.query<{ name: string; setting: string }>("SELECT name, setting FROM pg_settings WHERE name IN ('wal_level', 'max_wal_senders', 'max_replication_slots')")).rows;
  return Object.fromEntries(rows.map((r) => [r.name, r.setting])) as ReplicationSettings;
}

/** The server's server_version_num (e.g. 170004). */
export async function queryServerVersionNum(client: pg.Client): Promise<number> {
  return Number((await client.query<{ v: string }>("SELECT current_setting('server_version_num') AS v")).rows[0]!.v);
}

/** pg_switch_wal(): end the current segment now; returns its file name (needs EXECUTE on it). */
export async function switchWal(client: pg.Client): Promise<string> {
  return (await client.query<{ seg: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS seg')).rows[0]!.seg;
}
