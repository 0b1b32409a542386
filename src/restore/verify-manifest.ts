/**
 * The restored directory checked against its backup_manifest, as pg_verifybackup --no-parse-wal
 * does, for every major (13 to 18: manifest versions 1 and 2) without needing that binary of the
 * backup's major (the server packages of some majors ship none). Checks: the manifest's own
 * SHA-256, then every file it lists exists with its size and checksum (pitrd asks for CRC32C),
 * then no file is there that it does not list (pg_wal/ and the files a restore writes aside).
 */
import { createHash } from 'node:crypto';
import { open, readdir, lstat, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PitrdError } from '../errors.js';
import { CRC32C_INIT, crc32cFinal, crc32cUpdate } from '../wal/index.js';
import { IN_PROGRESS_MARK } from './in-progress.js';

interface ManifestFile {
  Path?: string;
  'Encoded-Path'?: string;
  Size: number;
  'Checksum-Algorithm'?: string;
  Checksum?: string;
}

/**
 * Files pg_verifybackup does not expect in the manifest either (and pg_wal/, never listed), and
 * the mark of the restore in progress (./in-progress.ts).
 */
const NOT_LISTED = new Set(['backup_manifest', 'pg_wal', 'postgresql.auto.conf', 'recovery.signal', 'standby.signal', IN_PROGRESS_MARK]);

/** One problem per line, for the RESTORE_FAILED message; empty when the directory matches. */
export async function verifyAgainstManifest(dataDir: string, manifest: Buffer): Promise<string[]> {
  const problems: string[] = [];
  const cut = manifest.lastIndexOf('\n"Manifest-Checksum"');
  let doc: { 'PostgreSQL-Backup-Manifest-Version'?: number; Files?: ManifestFile[]; 'Manifest-Checksum'?: string };
  try {
    doc = JSON.parse(manifest.toString('utf8')) as typeof doc;
  } catch (err) {
    return [`backup_manifest is not JSON: ${(err as Error).message}`];
  }
  const version = doc['PostgreSQL-Backup-Manifest-Version'];
  if (version !== 1 && version !== 2) return [`backup_manifest has version ${String(version)}; versions 1 and 2 are known`];
  // The checksum covers every byte up to and including the newline before its own line.
  const sha = cut < 0 ? null : createHash('sha256').update(manifest.subarray(0, cut + 1)).digest('hex');
  if (sha === null || sha !== doc['Manifest-Checksum']) return ['backup_manifest fails its own Manifest-Checksum'];
  const listed = new Set<string>();
  for (const f of doc.Files ?? []) {
    const path = f.Path ?? Buffer.from(f['Encoded-Path'] ?? '', 'hex').toString('utf8');
    listed.add(path);
    const full = join(dataDir, path);
    let size: number;
    try {
      size = (await stat(full)).size;
    } catch {
      problems.push(`"${path}" is in the manifest but not in the restored directory`);
      continue;
    }
    if (size !== f.Size) {
      problems.push(`"${path}" has size ${size}, the manifest says ${f.Size}`);
      continue;
    }
    const algo = f['Checksum-Algorithm'] ?? 'NONE';
    if (algo === 'NONE') continue;
    if (algo !== 'CRC32C') {
      problems.push(`"${path}" has checksum algorithm ${algo}; pitrd verifies CRC32C (its backups ask for it)`);
      continue;
    }
    if ((await fileCrc32cHex(full)) !== f.Checksum) problems.push(`"${path}" fails its CRC32C checksum`);
  }
  for (const extra of await unlisted(dataDir, '', listed)) problems.push(`"${extra}" is in the restored directory but not in the manifest`);
  return problems;
}

/** CRC32C of a file as a manifest writes it: the 4 bytes in little-endian order, hex. */
async function fileCrc32cHex(path: string): Promise<string> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    let crc = CRC32C_INIT;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      crc = crc32cUpdate(crc, buf, 0, bytesRead);
    }
    const out = Buffer.alloc(4);
    out.writeUInt32LE(crc32cFinal(crc) >>> 0);
    return out.toString('hex');
  } finally {
    await fh.close();
  }
}

/** Regular files under dir (following pg_tblspc's links) that the manifest does not list. */
async function unlisted(root: string, rel: string, listed: Set<string>): Promise<string[]> {
  const out: string[] = [];
  for (const name of await readdir(join(root, rel))) {
    const path = rel === '' ? name : `${rel}/${name}`;
    if (rel === '' && NOT_LISTED.has(name)) continue;
    const st = await lstat(join(root, path));
    const isDir = st.isDirectory() || (st.isSymbolicLink() && (await stat(join(root, path))).isDirectory());
    if (isDir) out.push(...(await unlisted(root, path, listed)));
    else if (!listed.has(path)) out.push(path);
  }
  return out;
}

/** RESTORE_FAILED naming the first problems, when there are any. */
export async function assertMatchesManifest(dataDir: string, manifest: Buffer, backupId: string): Promise<void> {
  const problems = await verifyAgainstManifest(dataDir, manifest);
  if (problems.length === 0) return;
  const shown = problems.slice(0, 5).join('; ') + (problems.length > 5 ? `; and ${problems.length - 5} more` : '');
  throw new PitrdError('RESTORE_FAILED', `the restored backup ${backupId} does not match its manifest: ${shown}`, { context: { backup: backupId, target_dir: dataDir } });
}
