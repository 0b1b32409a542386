import type { Config } from '../config/index.js';
import { repositoryOptions, storageOptions } from '../config/storage.js';
import { isPitrdError, PitrdError } from '../errors.js';
import { openRepository, REPO_JSON_KEY, type Repository } from '../repository/index.js';
import { createObjectStore, type ObjectStore } from '../storage/index.js';

/**
 * Open an existing repository from the config (storage + key only) and pick databases: the one
 * asked for, else every database the repository holds. Never creates repo.json.
 */
export async function openCatalog(config: Config, database?: string): Promise<{ repo: Repository; store: ObjectStore; databases: string[] }> {
  const store = createObjectStore(storageOptions(config));
  try {
    let present: boolean;
    try {
      present = (await store.head(REPO_JSON_KEY)) !== null;
    } catch (err) {
      if (!isPitrdError(err, 'OBJECT_NOT_FOUND')) throw err;
      present = false;
    }
    if (!present) throw new PitrdError('REPO_INVALID', `no repository (${REPO_JSON_KEY}) in the configured storage`, { context: { key: REPO_JSON_KEY } });
    const repo = await openRepository(store, repositoryOptions(config));
    const databases = database !== undefined ? [database] : await repo.listDatabases();
    if (databases.length === 0) throw new PitrdError('VALIDATION_ERROR', 'the repository holds no database yet', {});
    return { repo, store, databases };
  } catch (err) {
    await store.close();
    throw err;
  }
}
