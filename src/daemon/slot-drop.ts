import { connectSource } from '../postgres/index.js';
import { entryConnection, type DatabaseEntry } from './entry.js';

/**
 * Drop the database's replication slot once pitrd stops protecting it: a slot nobody consumes
 * makes the server keep WAL forever and eventually fills its disk. Returns whether a slot was
 * dropped. An active slot (another daemon still streaming) is left alone by PostgreSQL itself.
 */
export async function dropReplicationSlot(entry: DatabaseEntry): Promise<boolean> {
  const client = await connectSource(entryConnection(entry), { applicationName: 'pitrd' });
  try {
    const res = await client.query(
      `SELECT slot_name, pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active`,
      [entry.slotName],
    );
    return res.rows.length > 0;
  } finally {
    await client.end().catch(() => undefined);
  }
}
