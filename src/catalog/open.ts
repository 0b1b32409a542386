import type { Config } from '../config/index.js';
import { repositoryOptions, storageOptions } from '../config/storage.js';
import { isPitrdError, PitrdError } from '../errors.js';
import { assertProjectId, openRepository, REPO_JSON_KEY, type DatabaseRef, type DatabaseRepository, type Repository } from '../repository/index.js';
import { createObjectStore, type ObjectStore } from '../storage/index.js';

/**
 * Open an existing repository from the config (storage + key only) and pick databases: the one
 * asked for, else every database the repository holds. Never creates repo.json.
 */
export async function openDatabases(config: Config, database?: string): Promise<{ repo: Repository; store: ObjectStore; databases: DatabaseRef[] }> {
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

/**
 * Open one database of the configured repository, with nothing but the config (storage + key):
 * the one asked for, else the only one the config file (or, without databases there, the
 * repository) has. Never creates repo.json: a restore pointed at an empty store is a mistake.
 */
export async function openOneDatabase(config: Config, database?: string): Promise<{ db: DatabaseRepository; store: ObjectStore; repo: Repository }> {
  const { repo, store } = await openExistingRepository(config);
  try {
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
