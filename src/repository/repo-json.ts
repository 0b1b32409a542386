import { z } from 'zod';
import { isPitrdError, PitrdError } from '../errors.js';
import { keyFingerprint } from '../storage/index.js';
import type { ObjectStore } from '../storage/types.js';
import { VERSION } from '../version.js';
import { REPO_JSON_KEY } from './keys.js';
import { parseJson } from './meta.js';

/**
 * Bump when the layout changes in a way an older pitrd would misread.
 * 1: `databases/{db}/…` (a database named alone; every project shared the names).
 * 2: `projects/{project}/databases/{db}/…` (./keys.ts); `pitrd repo upgrade` moves format 1 to it.
 */
export const REPO_FORMAT = 2;
/** The formats `pitrd repo upgrade` can bring to REPO_FORMAT. */
export const UPGRADABLE_FORMATS: readonly number[] = [1];

/**
 * The decision an upgrade from format 1 is carried out under: which project owns each old
 * `databases/{db}/` (recorded once, before anything moves, so a resumed upgrade moves the rest to
 * the same place even if the config or the registry changed in between).
 */
export const UpgradeRecordSchema = z.object({
  from: z.literal(1),
  started_at: z.string(),
  owners: z.record(z.string(), z.string()),
});
export type UpgradeRecord = z.output<typeof UpgradeRecordSchema>;

export const RepoJsonSchema = z.looseObject({
  format: z.literal(REPO_FORMAT),
  created_at: z.string(),
  created_by: z.string(),
  /** Compression chosen at creation; informative only: every WAL key and backup.json says its own. */
  compression: z.enum(['none', 'gzip', 'zstd', 'lz4']),
  cipher: z.enum(['none', 'aes-256-gcm']),
  /** HMAC-SHA256 of a fixed string under the key, first 32 hex digits; null when not encrypted. */
  key_fingerprint: z.string().regex(/^[0-9a-f]{32}$/).nullable(),
  /** Present while an upgrade is under way: nothing but `pitrd repo upgrade` opens the repository. */
  upgrade_in_progress: UpgradeRecordSchema.optional(),
  /** The finished upgrade's record (the daemon adopts a format-1 spool directory by it). */
  upgraded: UpgradeRecordSchema.extend({ finished_at: z.string() }).optional(),
});
export type RepoJson = z.output<typeof RepoJsonSchema>;

/**
 * Identifies a key without revealing it: the storage layer's HMAC-SHA256 fingerprint (a keyed
 * hash, not a hash of the key), truncated: enough to tell keys apart.
 */
export function repoKeyFingerprint(key: Buffer): string {
  return keyFingerprint(key).slice(0, 32);
}

export interface RepoOpenOptions {
  key?: Buffer;
  compression: RepoJson['compression'];
}

/**
 * Read and check repo.json, or create it if absent. Every check happens before any write, so a
 * failed open changes nothing.
 */
export async function openRepoJson(store: ObjectStore, opts: RepoOpenOptions): Promise<{ repo: RepoJson; created: boolean }> {
  if (opts.key !== undefined && opts.key.length !== 32) {
    throw new PitrdError('VALIDATION_ERROR', `the repository key must be 32 bytes, got ${opts.key.length}`);
  }
  const existing = await readRepoJson(store);
  if (existing) return { repo: check(usable(existing, store), store, opts), created: false };

  const repo: RepoJson = {
    format: REPO_FORMAT,
    created_at: new Date().toISOString(),
    created_by: `pitrd ${VERSION}`,
    compression: opts.compression,
    cipher: opts.key ? 'aes-256-gcm' : 'none',
    key_fingerprint: opts.key ? repoKeyFingerprint(opts.key) : null,
  };
  try {
    await store.put(REPO_JSON_KEY, Buffer.from(JSON.stringify(repo, null, 2) + '\n'), { ifNoneMatch: true });
    return { repo, created: true };
  } catch (err) {
    if (!isPitrdError(err, 'OBJECT_EXISTS')) throw err;
    // Another process created it between our read and write: theirs is the repository.
    const theirs = await readRepoJson(store);
    if (!theirs) throw err;
    return { repo: check(usable(theirs, store), store, opts), created: false };
  }
}

/** An interrupted upgrade leaves objects in both layouts: nothing may read or write until it is finished. */
function usable(repo: RepoJson, store: ObjectStore): RepoJson {
  if (repo.upgrade_in_progress) {
    throw new PitrdError(
      'REPO_UPGRADE_REQUIRED',
      `${store.location}/${REPO_JSON_KEY}: an upgrade from repository format ${repo.upgrade_in_progress.from} (started ${repo.upgrade_in_progress.started_at}) has not finished; run \`pitrd repo upgrade\` again to finish it`,
      { context: { key: REPO_JSON_KEY, format: repo.format, from: repo.upgrade_in_progress.from } },
    );
  }
  return repo;
}

/** repo.json as stored, format unchecked (what `pitrd repo upgrade` starts from); null when absent. */
export async function readRawRepoJson(store: ObjectStore): Promise<Record<string, unknown> | null> {
  const buf = await getRepoJsonBytes(store);
  if (buf === null) return null;
  return parseJson(REPO_JSON_KEY, buf, z.looseObject({ format: z.unknown() }));
}

/** Replace repo.json (the upgrade's commit points). */
export async function writeRepoJson(store: ObjectStore, repo: Record<string, unknown>): Promise<void> {
  await store.put(REPO_JSON_KEY, Buffer.from(JSON.stringify(repo, null, 2) + '\n'));
}

/** Check the key against a repo.json of any format (the upgrade checks it before moving anything). */
export function checkRepoKey(repo: Pick<RepoJson, 'cipher' | 'key_fingerprint'>, store: ObjectStore, key: Buffer | undefined): void {
  check(repo as RepoJson, store, { compression: 'none', ...(key ? { key } : {}) });
}

/** The bytes of repo.json, or null when the repository has none yet. */
async function getRepoJsonBytes(store: ObjectStore): Promise<Buffer | null> {
  try {
    return await store.getBuffer(REPO_JSON_KEY);
  } catch (err) {
    if (isPitrdError(err, 'OBJECT_NOT_FOUND')) return null;
    throw err;
  }
}

async function readRepoJson(store: ObjectStore): Promise<RepoJson | null> {
  const buf = await getRepoJsonBytes(store);
  if (buf === null) return null;
  // The format is checked before the schema: a newer format may have any shape.
  const loose = parseJson(REPO_JSON_KEY, buf, z.looseObject({ format: z.unknown() }));
  if (typeof loose.format === 'number' && UPGRADABLE_FORMATS.includes(loose.format)) {
    throw new PitrdError(
      'REPO_UPGRADE_REQUIRED',
      `${store.location}/${REPO_JSON_KEY}: repository format ${loose.format} must be upgraded to format ${REPO_FORMAT} (data keyed by project); stop every pitrd daemon using it and run \`pitrd repo upgrade\``,
      { context: { key: REPO_JSON_KEY, format: loose.format } },
    );
  }
  if (loose.format !== REPO_FORMAT) {
    throw new PitrdError(
      'REPO_FORMAT_UNSUPPORTED',
      `${store.location}/${REPO_JSON_KEY}: repository format ${JSON.stringify(loose.format)} is not supported by pitrd ${VERSION} (supports format ${REPO_FORMAT}); upgrade pitrd`,
      { context: { key: REPO_JSON_KEY, format: loose.format } },
    );
  }
  return parseJson(REPO_JSON_KEY, buf, RepoJsonSchema);
}

/**
 * The storage answered with a repo.json: is it the one `known` describes (the same repository,
 * not one created anew at the same location)? Compared: format, creation time and creator, cipher
 * and key fingerprint. Throws REPO_INVALID naming what differs.
 */
export async function confirmRepoJson(store: ObjectStore, known: RepoJson): Promise<void> {
  const now = await readRepoJson(store);
  const fields = ['format', 'created_at', 'created_by', 'cipher', 'key_fingerprint'] as const;
  const differs = now === null ? ['repo.json is absent'] : fields.filter((f) => now[f] !== known[f]).map((f) => `${f} ${JSON.stringify(now[f])}, was ${JSON.stringify(known[f])}`);
  if (differs.length > 0) {
    throw new PitrdError('REPO_INVALID', `repository ${store.location} is not the one verified before (${differs.join('; ')}): refusing to write into it`, {
      context: { location: store.location, differs },
    });
  }
}

/** The checks a repo.json must pass against the configured key (exported for a verified local copy of it). */
export function checkRepoJson(repo: RepoJson, store: ObjectStore, opts: RepoOpenOptions): RepoJson {
  return check(repo, store, opts);
}

function check(repo: RepoJson, store: ObjectStore, opts: RepoOpenOptions): RepoJson {
  const where = `repository ${store.location}`;
  if (repo.cipher === 'none' && opts.key) {
    throw new PitrdError(
      'REPO_KEY_MISMATCH',
      `${where} is not encrypted, but an encryption key is configured; remove the key (PITRD_ENCRYPTION_KEY / encryption.key_file) or use a new repository`,
      { context: { cipher: repo.cipher } },
    );
  }
  if (repo.cipher !== 'none' && !opts.key) {
    throw new PitrdError('REPO_KEY_REQUIRED', `${where} is encrypted (${repo.cipher}); set its key with PITRD_ENCRYPTION_KEY or encryption.key_file`, {
      context: { cipher: repo.cipher },
    });
  }
  if (opts.key && repo.key_fingerprint !== repoKeyFingerprint(opts.key)) {
    throw new PitrdError(
      'REPO_KEY_MISMATCH',
      `${where} was encrypted with a different key (fingerprint ${repo.key_fingerprint ?? 'none'}, the configured key's is ${repoKeyFingerprint(opts.key)})`,
      { context: { expected: repo.key_fingerprint, actual: repoKeyFingerprint(opts.key) } },
    );
  }
  return repo;
}
