import type { Config } from '../config/index.js';
import { repositoryOptions, storageOptions } from '../config/storage.js';
import { isPitrdError, PitrdError } from '../errors.js';
import { assertProjectId, openRepository, REPO_JSON_KEY, type DatabaseRef, type Repository } from '../repository/index.js';
import { createObjectStore, type ObjectStore } from '../storage/index.js';

/**
 * Open an existing repository from the config (storage + key only) and pick databases: the one
 * asked for, else every database the repository holds. Never creates repo.json.
 */
export async function openCatalog(config: Config, database?: string): Promise<{ repo: Repository; store: ObjectStore; databases: DatabaseRef[] }> {
  const { repo, store } = await openExistingRepository(config);
  try {
    const databases = database !== undefined ? [await resolveDatabaseArg(repo, config, database)] : await repo.listDatabases();
    if (databases.length === 0) throw new PitrdError('VALIDATION_ERROR', 'the repository holds no database yet', {});
    return { repo, store, databases };
  } catch (err) {
    await store.close();
    throw err;
  }
}

/** Open the configured repository (storage + key checked); REPO_INVALID when it has no repo.json. Never creates one. */
export async function openExistingRepository(config: Config): Promise<{ repo: Repository; store: ObjectStore }> {
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
    return { repo: await openRepository(store, repositoryOptions(config)), store };
  } catch (err) {
    await store.close();
    throw err;
  }
}

/** How the CLI shows a database: its name in project `default`, `project/name` elsewhere. */
export function databaseLabel(ref: DatabaseRef): string {
  return ref.project === 'default' ? ref.name : `${ref.project}/${ref.name}`;
}

/**
 * The CLI's `--database`: `project/name`, or a name alone when one project has a database of that
 * name (in the config file or the repository); a name several projects use must be qualified.
 */
export async function resolveDatabaseArg(repo: Repository, config: Config, arg: string): Promise<DatabaseRef> {
  const slash = arg.indexOf('/');
  if (slash >= 0) {
    const ref = { project: arg.slice(0, slash), name: arg.slice(slash + 1) };
    assertProjectId(ref.project);
    repo.database(ref); // validates the name
    return ref;
  }
  const projects = new Set(config.databases.filter((d) => d.name === arg).map((d) => d.project));
  for (const r of await repo.listDatabases()) if (r.name === arg) projects.add(r.project);
  if (projects.size > 1) {
    throw new PitrdError('VALIDATION_ERROR', `database "${arg}" exists in several projects (${[...projects].sort().join(', ')}); pass --database <project>/${arg}`, {
      context: { database: arg, projects: [...projects].sort() },
    });
  }
  const ref = { project: [...projects][0] ?? 'default', name: arg };
  repo.database(ref);
  return ref;
}
