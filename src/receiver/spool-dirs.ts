/**
 * Where each receiver spools: `<spool_dir>/<project>/<name>/`, so two projects' databases of the
 * same name never share a spool. Before repository format 2 it was `<spool_dir>/<name>/`; such a
 * directory may still hold WAL that was confirmed to the server (the slot has moved past it) but
 * not uploaded, so it is moved to its owner's place before any receiver starts, never dropped.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { PitrdError } from '../errors.js';
import type { DatabaseRef } from '../repository/index.js';
import type { Logger } from './logger.js';
import { fsyncDir, IDENTITY_FILE } from './spool.js';

export function spoolDirOf(root: string, ref: DatabaseRef): string {
  return join(root, ref.project, ref.name);
}

/** A move in two steps (the target may lie inside the source: project `main`, database `main`). */
const MOVING = '.moving-';

/**
 * Move every format-1 spool directory to `<project>/<name>` of its owner. `ownerOf(name)` says
 * which project's database used it (null: none today; the directory is left and reported).
 * Crash-safe: each step is one rename, and a half-done move (`.moving-<name>`) is finished first.
 */
export async function adoptLegacySpools(root: string, ownerOf: (name: string) => string | null, logger: Logger): Promise<void> {
  if (!existsSync(root)) return;
  const names = await readdir(root);
  const moving = names.filter((n) => n.startsWith(MOVING)).map((n) => n.slice(MOVING.length));
  const legacy = names.filter((n) => !n.startsWith('.') && existsSync(join(root, n, IDENTITY_FILE)));
  for (const name of [...moving, ...legacy]) {
    const project = ownerOf(name);
    if (project === null) {
      logger.error({ spool: join(root, name) }, 'a spool directory from before repository format 2 belongs to no configured or registered database; it is left in place (upload or remove it by hand)');
      continue;
    }
    const target = spoolDirOf(root, { project, name });
    if (existsSync(target)) {
      throw new PitrdError('CONFLICT', `spool directory ${join(root, name)} (from before repository format 2) and ${target} both exist; move the WAL of one into the other's server by hand`, {
        context: { legacy: join(root, name), target },
      });
    }
    const tmp = join(root, `${MOVING}${name}`);
    if (!moving.includes(name)) await rename(join(root, name), tmp);
    await fsyncDir(root);
    await mkdir(join(root, project), { recursive: true });
    await rename(tmp, target);
    await fsyncDir(join(root, project));
    await fsyncDir(root);
    logger.info({ project, database: name, spool: target }, 'spool directory moved to its project');
  }
}
