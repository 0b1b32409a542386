/**
 * The daemon opens its repository from storage, or — while storage is unreachable — from a
 * verified local copy of its identity, so that a daemon restarted during an outage still
 * receives WAL into its spool (the slot alone would keep it on the server, until the server's
 * disk fills).
 *
 * What "verified" means: `{spool_dir}/repository.json` is written (atomically, fsync'd) only
 * after repo.json was read from storage and passed every check against the configured key. It
 * holds the storage location and that repo.json, with a sha256 over both. It is used only when
 * opening from storage fails with STORAGE_UNAVAILABLE (or a retryable STORAGE_ERROR), and only if
 * its sha256 matches, its location is the configured storage's, and its repo.json passes the same
 * key checks again (a changed key is REPO_KEY_MISMATCH / REPO_KEY_REQUIRED, as with storage).
 * Without such a copy (first start ever, another location) the start fails with
 * STORAGE_UNAVAILABLE saying so. Nothing is written to storage on the copy's word alone: each
 * receiver re-reads repo.json and checks it equals the copy before its first upload
 * (`Repository.confirm`), and checks database.json against the server as always.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { Logger } from 'pino';
import { writeFileAtomic } from '../auth/index.js';
import { errorMessage, isStorageUnreachable, PitrdError, loggedError } from '../errors.js';
import { checkRepoJson, openRepository, reopenRepository, RepoJsonSchema, type DatabaseRef, type OpenRepositoryOptions, type RepoJson, type Repository } from '../repository/index.js';
import type { ReceiverRepository } from '../receiver/index.js';
import type { ObjectStore } from '../storage/index.js';

export const LOCAL_COPY_FILE = 'repository.json';

const CopySchema = z.object({
  version: z.literal(1),
  location: z.string(),
  repo_json: RepoJsonSchema,
  saved_at: z.string(),
  sha256: z.string(),
});

function digest(location: string, repoJson: RepoJson): string {
  return createHash('sha256').update(JSON.stringify([location, repoJson])).digest('hex');
}

export async function saveLocalCopy(spoolDir: string, location: string, repoJson: RepoJson): Promise<void> {
  await mkdir(spoolDir, { recursive: true });
  const body = { version: 1, location, repo_json: repoJson, saved_at: new Date().toISOString(), sha256: digest(location, repoJson) };
  await writeFileAtomic(join(spoolDir, LOCAL_COPY_FILE), JSON.stringify(body, null, 2) + '\n', 0o600);
}

/** The copy's repo.json, or why it cannot stand in for the repository's. */
async function readLocalCopy(spoolDir: string, location: string): Promise<{ repoJson: RepoJson; savedAt: string } | { reason: string }> {
  const file = join(spoolDir, LOCAL_COPY_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return { reason: `no verified local copy of repo.json in ${file} (one is kept after the first start that reached the repository)` };
  }
  let parsed;
  try {
    parsed = CopySchema.safeParse(JSON.parse(text));
  } catch {
    return { reason: `${file} is not valid JSON` };
  }
  if (!parsed.success) return { reason: `${file} is malformed` };
  const c = parsed.data;
  if (c.sha256 !== digest(c.location, c.repo_json)) return { reason: `${file} does not match its checksum` };
  if (c.location !== location) return { reason: `${file} belongs to the repository at ${c.location}, not ${location}` };
  return { repoJson: c.repo_json, savedAt: c.saved_at };
}

/**
 * Open the repository in `store`; on success refresh the local copy. While storage is
 * unreachable, open it from the verified local copy instead (`fromLocalCopy: true`).
 */
export async function openRepositoryOrLocalCopy(
  store: ObjectStore,
  opts: OpenRepositoryOptions,
  spoolDir: string,
  logger: Logger,
): Promise<{ repo: Repository; fromLocalCopy: boolean }> {
  let repo: Repository;
  try {
    repo = await openRepository(store, opts);
  } catch (err) {
    if (!isStorageUnreachable(err)) throw err;
    const copy = await readLocalCopy(spoolDir, store.location);
    if ('reason' in copy) {
      throw new PitrdError('STORAGE_UNAVAILABLE', `cannot start: the repository is unreachable (${errorMessage(err)}) and there is ${copy.reason.startsWith('no ') ? copy.reason : `no usable local copy of its identity: ${copy.reason}`}`, {
        cause: err,
        retryable: true,
        context: { location: store.location },
      });
    }
    checkRepoJson(copy.repoJson, store, { compression: copy.repoJson.compression, ...(opts.key ? { key: opts.key } : {}) });
    logger.warn(
      { repository: store.location, err: loggedError(err), verified_at: copy.savedAt },
      'repository unreachable: started from the verified local copy of repo.json; WAL is received into the spool and uploaded when storage answers',
    );
    return { repo: reopenRepository(store, copy.repoJson, opts), fromLocalCopy: true };
  }
  try {
    await saveLocalCopy(spoolDir, store.location, repo.repoJson);
  } catch (err) {
    // Not fatal: only a later start during an outage needs it.
    logger.warn({ err: loggedError(err), spool_dir: spoolDir }, 'could not keep a local copy of repo.json; a start during a storage outage will fail');
  }
  return { repo, fromLocalCopy: false };
}

/**
 * A receiver's view of one database in `repo`, with `confirm`: before its first write the
 * receiver re-reads repo.json and checks it is still the repository `repo` was opened on (which
 * matters when that was the local copy, during an outage).
 */
export function receiverRepository(repo: Repository, ref: DatabaseRef): ReceiverRepository {
  const db = repo.database(ref);
  return { wal: db.wal, info: () => db.info(), saveInfo: (input) => db.saveInfo(input), confirm: () => repo.confirm() };
}
