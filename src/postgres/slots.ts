/**
 * Physical replication slots on a source: their names, and every SQL question pitrd asks the
 * server about them (state, WAL retained, drop). The walsender's own slot commands
 * (CREATE_REPLICATION_SLOT, READ_REPLICATION_SLOT) are in ./replication/connection.ts.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { Lsn, TimelineId } from '../types.js';
import { parseLsn } from '../wal/lsn.js';
import type { SourceConnection } from './source.js';
import { connectSource } from './source-client.js';

/** `pitrd_<name>`, lower case, only [a-z0-9_] (anything else becomes '_'), at most 63 bytes (NAMEDATALEN − 1). */
export function defaultSlotName(dbName: string): string {
  return `pitrd_${dbName.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63);
}

/**
 * The slot of a database registered through the API: `pitrd_<name>_<hash of project and name>`,
 * so two projects' databases of the same name on one server never share a slot (and the name
 * still says which database it is). Records registered before format 2 keep defaultSlotName.
 */
export function projectSlotName(project: string, dbName: string): string {
  const h = createHash('sha256').update(`${project}/${dbName}`).digest('hex').slice(0, 12);
  return `${defaultSlotName(dbName).slice(0, 63 - 13)}_${h}`;
}

/** A slot as pg_replication_slots shows it (the receiver's status carries it as is). */
export interface SlotState {
  slot_name: string;
  active: boolean;
  restart_lsn: string | null;
  wal_status: string | null;
  /** WAL the server keeps for this slot: current position − restart_lsn. */
  retained_bytes: number | null;
}

/** null when the slot does not exist. Works on a standby too (its position is the last WAL received). */
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

/**
 * Bytes of WAL the server keeps for the slot: what a stalled receiver costs the server's disk.
 * null when the slot does not exist or the server cannot be asked within 5 s (the
 * receiver_down alert covers that case).
 */
export async function slotRetainedBytes(conn: SourceConnection, slotName: string): Promise<number | null> {
  let client: pg.Client | null = null;
  try {
    client = await connectSource({ ...conn, connectTimeoutMs: 5_000 }, { applicationName: 'pitrd health', queryTimeoutMs: 5_000 });
    return (await querySlotState(client, slotName))?.retained_bytes ?? null;
  } catch {
    return null;
  } finally {
    await client?.end().catch(() => undefined);
  }
}

/**
 * Drop the slot once pitrd stops protecting its database: a slot nobody consumes makes the
 * server keep WAL forever and eventually fills its disk. Returns whether a slot was dropped. An
 * active slot (another daemon still streaming) is left alone.
 */
export async function dropInactiveSlot(conn: SourceConnection, slotName: string): Promise<boolean> {
  const client = await connectSource(conn, { applicationName: 'pitrd' });
  try {
    const res = await client.query(`SELECT slot_name, pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active`, [slotName]);
    return res.rows.length > 0;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * A physical slot's restart LSN from pg_replication_slots, for servers before 15 (no
 * READ_REPLICATION_SLOT; no restart timeline either); null when there is no such slot.
 */
export async function querySlotPosition(client: pg.Client, slotName: string): Promise<{ restartLsn: Lsn | null; restartTimeline: TimelineId | null } | null> {
  const res = await client.query<{ restart_lsn: string | null }>(`SELECT restart_lsn::text AS restart_lsn FROM pg_replication_slots WHERE slot_name = $1 AND slot_type = 'physical'`, [slotName]);
  const row = res.rows[0];
  if (!row) return null;
  return { restartLsn: row.restart_lsn === null ? null : parseLsn(row.restart_lsn), restartTimeline: null };
}
