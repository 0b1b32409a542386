import type pg from 'pg';
import { connectSource } from '../postgres/index.js';
import { entryConnection, type DatabaseEntry } from './entry.js';

/**
 * Bytes of WAL the server keeps for the database's replication slot (current WAL position minus
 * the slot's restart_lsn): what a stalled receiver costs the server's disk. null when the slot
 * does not exist or the server cannot be asked (the receiver_down alert covers that case).
 */
export async function slotRetainedBytes(entry: DatabaseEntry): Promise<number | null> {
  let client: pg.Client | null = null;
  try {
    client = await connectSource({ ...entryConnection(entry), connectTimeoutMs: 5_000 }, { applicationName: 'pitrd health', queryTimeoutMs: 5_000 });
    const res = await client.query<{ retained: string | null }>(
      'SELECT (pg_current_wal_lsn() - restart_lsn)::bigint::text AS retained FROM pg_replication_slots WHERE slot_name = $1',
      [entry.slotName],
    );
    const v = res.rows[0]?.retained;
    return v === undefined || v === null ? null : Number(v);
  } catch {
    return null;
  } finally {
    await client?.end().catch(() => undefined);
  }
}
