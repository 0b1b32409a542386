/**
 * Who owned a database of a format-1 repository (`databases/{name}/`, one namespace for every
 * project): the configuration file's database of that name, else the API registration of that
 * name, else project `default` (the operator's: data of a database deleted before the upgrade,
 * whose owner nobody recorded, is never handed to a tenant). Format 1 refused a name in two
 * projects, so at most one of each exists; a config that now has it twice must say which.
 */
import type { Config } from '../config/index.js';
import { PitrdError } from '../errors.js';
import type { ObjectStore } from '../storage/index.js';
import { REGISTRY_PREFIX } from '../repository/index.js';

export async function legacyOwners(config: Config, store: ObjectStore): Promise<(name: string) => string> {
  const registered = new Map<string, string[]>();
  // The registry's keys name project and database: no record needs decrypting.
  for await (const o of store.listAll(REGISTRY_PREFIX)) {
    const m = /^([^/]+)\/([^/]+)\.json$/.exec(o.key.slice(REGISTRY_PREFIX.length));
    if (m) registered.set(m[2]!, [...(registered.get(m[2]!) ?? []), m[1]!]);
  }
  return (name) => {
    const fromConfig = config.databases.filter((d) => d.name === name).map((d) => d.project);
    const candidates = fromConfig.length > 0 ? fromConfig : (registered.get(name) ?? ['default']);
    if (candidates.length > 1) {
      throw new PitrdError('CONFLICT', `format-1 database "${name}" could belong to projects ${candidates.join(', ')}; leave one database of that name in the configuration file while upgrading`, {
        context: { database: name, projects: candidates },
      });
    }
    return candidates[0]!;
  };
}
