/** Replication slot naming and state (read over a normal SQL connection). */
import type pg from 'pg';
import type { SlotState } from './status.js';

/** `pitrd_<dbname>`, lower case, only [a-z0-9_], at most 63 bytes (NAMEDATALEN − 1). */
export function defaultSlotName(database: string): string {
  const clean = database.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  return `pitrd_${clean}`.slice(0, 63);
}

export async function querySlotState(client: pg.Client, slotName: string): Promise<SlotState | null> {
  const res = await client.query<{ active: boolean; restart_lsn: string | null; wal_status: string | null; retained_bytes: string | null }>(
    `SELECT active, restart_lsn::text AS restart_lsn, wal_status,
            pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() ELSE pg_current_wal_lsn() END,
                            restart_lsn)::bigint::text AS retained_bytes
       FROM pg_replication_slots WHERE slot_name = $1`,
    [slotName],
  );
  const row = res.rows[0];
  if (!row) return null;
  return {
    slot_name: slotName,
    active: row.active,
    restart_lsn: row.restart_lsn,
    wal_status: row.wal_status,
    retained_bytes: row.retained_bytes === null ? null : Number(row.retained_bytes),
  };
}
