import { repositoryOptions, storageOptions, type Config } from '../config/index.js';
import { isPitrdError, PitrdError } from '../errors.js';
import { databaseLabel, resolveDatabaseArg } from '../catalog/index.js';
import { openRepository, REPO_JSON_KEY, type DatabaseRef, type DatabaseRepository, type Repository } from '../repository/index.js';
import { createObjectStore, type ObjectStore } from '../storage/index.js';

/**
 * Open one database of the configured repository for reading, with nothing but the config
 * (storage + key). Never creates repo.json: a restore pointed at an empty store is a mistake.
 */
export async function openDatabaseForRestore(config: Config, database?: string): Promise<{ db: DatabaseRepository; store: ObjectStore; repo: Repository }> {
  const store = createObjectStore(storageOptions(config));
  try {
    let present = true;
    try {
      present = (await store.head(REPO_JSON_KEY)) !== null;
    } catch (err) {
      if (!isPitrdError(err, 'OBJECT_NOT_FOUND')) throw err;
      present = false;
    }
    if (!present) throw new PitrdError('REPO_INVALID', `no repository (${REPO_JSON_KEY}) in the configured storage`, { context: { key: REPO_JSON_KEY } });
    const repo = await openRepository(store, repositoryOptions(config));
    let ref: DatabaseRef;
    if (database !== undefined) ref = await resolveDatabaseArg(repo, config, database);
    else {
      const refs = config.databases.length > 0 ? config.databases.map((d) => ({ project: d.project, name: d.name })) : await repo.listDatabases();
      if (refs.length !== 1) {
        const names = refs.map(databaseLabel);
        throw new PitrdError('VALIDATION_ERROR', `pass --database: the repository has ${names.length === 0 ? 'no databases' : `several (${names.join(', ')})`}`, { context: { databases: names } });
      }
      ref = refs[0]!;
    }
    return { db: repo.database(ref), store, repo };
  } catch (err) {
    await store.close();
    throw err;
  }
}
