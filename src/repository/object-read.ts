import type { Readable } from 'node:stream';
import { parseWalKey } from './keys.js';
import type { Repository } from './repository.js';

const DATABASE_KEY = /^projects\/([^/]+)\/databases\/([^/]+)\/(.+)$/;

/**
 * The sha256 of an object's original bytes as the repository's own metadata records it: a base
 * backup's data object (its backup.json), a WAL segment (its marker). null for anything else
 * (metadata: JSON, authenticated by AES-GCM in an encrypted repository).
 */
export async function recordedSha256(repo: Repository, key: string): Promise<string | null> {
  const m = DATABASE_KEY.exec(key);
  if (!m) return null;
  const db = repo.database({ project: m[1]!, name: m[2]! });
  const rel = m[3]!;
  const backup = /^backups\/([^/]+)\/([^/]+)$/.exec(rel);
  if (backup && backup[2] !== 'backup.json') {
    const rec = await db.backups.get(backup[1]!);
    const name = backup[2]!;
    return rec?.files.find((f) => db.keys.backupData(rec.id, f.name) === key || f.name === name)?.sha256 ?? null;
  }
  const wal = rel.startsWith('wal/') ? parseWalKey(rel.slice(4)) : null;
  if (wal?.kind === 'segment') {
    for await (const s of db.wal.listSegments(wal.timeline)) if (s.name === wal.name) return s.sha256;
  }
  return null;
}

/**
 * An object decoded as pitrd reads it (decrypted, decompressed), verified against the sha256 its
 * metadata records when there is one: what `pitrd repo get` writes.
 */
export async function readObject(repo: Repository, key: string): Promise<{ stream: Readable; sha256: string | null }> {
  const sha256 = await recordedSha256(repo, key);
  const stream = await repo.codecOfKey(key).get(key, sha256 ? { sha256 } : {});
  return { stream, sha256 };
}
