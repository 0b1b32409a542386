import type pg from 'pg';
import { PitrdError } from '../../errors.js';
import type { Lsn, TimelineId } from '../../types.js';
import { parseLsn } from '../../wal/lsn.js';
import { classifyPgError } from '../pg-errors.js';

/** The walsender's answer to IDENTIFY_SYSTEM. */
export interface IdentifySystem {
  systemId: string;
  timeline: TimelineId;
  /** The server's current WAL flush position. */
  xlogpos: Lsn;
}

/** IDENTIFY_SYSTEM on a replication connection (the receiver's, a base backup's, `pitrd check`'s). */
export async function identifySystem(client: pg.Client): Promise<IdentifySystem> {
  let row: Record<string, unknown> | undefined;
  try {
    row = (await client.query('IDENTIFY_SYSTEM')).rows[0] as Record<string, unknown> | undefined;
  } catch (err) {
    throw classifyPgError(err, 'IDENTIFY_SYSTEM');
  }
  if (!row) throw new PitrdError('REPLICATION_ERROR', 'IDENTIFY_SYSTEM returned no row', { retryable: true });
  return { systemId: String(row.systemid), timeline: Number(row.timeline), xlogpos: parseLsn(String(row.xlogpos)) };
}
