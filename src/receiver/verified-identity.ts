/**
 * The receiver's local proof that the repository's database.json was read and matched this
 * server: `{spool}/database.verified.json` (system identifier and segment size), written durably
 * after each successful check. While storage is unreachable it stands in for database.json, so a
 * receiver (re)started during an outage streams into its spool; the real database.json is still
 * checked before the first upload.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileDurable, type SpoolIdentity } from './spool.js';

const FILE = 'database.verified.json';

export async function readVerifiedIdentity(dir: string): Promise<SpoolIdentity | null> {
  try {
    const v = JSON.parse(await readFile(join(dir, FILE), 'utf8')) as Partial<SpoolIdentity>;
    if (typeof v.system_identifier !== 'string' || typeof v.wal_segment_size !== 'number') return null;
    return { system_identifier: v.system_identifier, wal_segment_size: v.wal_segment_size };
  } catch {
    return null;
  }
}

export async function saveVerifiedIdentity(dir: string, id: SpoolIdentity): Promise<void> {
  const known = await readVerifiedIdentity(dir);
  if (known && known.system_identifier === id.system_identifier && known.wal_segment_size === id.wal_segment_size) return;
  await writeFileDurable(dir, FILE, JSON.stringify(id) + '\n');
}
