/**
 * The one directory tree the daemon restores into. A request may name a directory, but only
 * inside its project's part of this root: the API must never become a way to write a PostgreSQL
 * data directory (or delete one, after a failed restore) anywhere on the daemon's host, nor into
 * another project's restores or the daemon's own state. Layout of the root:
 *   projects/{project}/{target_dir}   restores requested through the API (a target_dir is a name)
 *   branches/{id}/                    branches (./branch-state.ts)
 *   .pitrd/                           the daemon's state (running-restores.json); no request can name it
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, realpathSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { PitrdError } from '../errors.js';
import { postgresOsUser } from '../postgres/cluster/index.js';

function bad(field: string, message: string): PitrdError {
  return new PitrdError('VALIDATION_ERROR', `${field}: ${message}`, { context: { fields: [field] } });
}

/** The deepest existing ancestor of a path, with symlinks resolved. */
function realExisting(p: string): string {
  let d = p;
  while (!existsSync(d)) {
    const up = dirname(d);
    if (up === d) return d;
    d = up;
  }
  return join(realpathSync(d), relative(d, p));
}

/** The daemon's own state under the root: a name no target_dir can take (it starts with a dot). */
export function stateDir(root: string): string {
  return join(resolve(root), '.pitrd');
}

/** Where a project's restores go. */
export function projectRestoreDir(root: string, project: string): string {
  if (!SAFE_NAME.test(project)) throw new Error(`project id ${JSON.stringify(project)} cannot name a directory`);
  return join(resolve(root), 'projects', project);
}

/** A directory name: letters, digits, '.', '_', '-', not starting with '.', at most 128 characters. */
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * The one check of a directory a request names: `requested` must be a plain name (no '/', no
 * '..', not absolute, not hidden); the result is `{root}/projects/{project}/{name}`, also inside
 * the project's directory after resolving symlinks of its existing part. VALIDATION_ERROR naming
 * `field` otherwise; the message never names the daemon's paths (the client sees it).
 */
export function resolveTargetDir(root: string, project: string, requested: string, field = 'body.target_dir'): string {
  if (!SAFE_NAME.test(requested)) {
    throw bad(field, `expected a directory name (letters, digits, ".", "_", "-"; not starting with "."; at most 128 characters), not a path: restores go into the project's own directory under the daemon's restore root`);
  }
  const base = projectRestoreDir(root, project);
  const target = join(base, requested);
  const inside = (r: string, t: string) => t.startsWith(r.endsWith(sep) ? r : r + sep);
  if (!inside(realExisting(base), realExisting(target)) || !inside(realExisting(resolve(root)), realExisting(base))) {
    throw new PitrdError('VALIDATION_ERROR', `${field}: "${requested}" leads out of the project's restore directory through a symbolic link`, {
      context: { fields: [field], project_dir: base },
    });
  }
  return target;
}

/** A new directory under the project's part of the root for a restore of `database` (not created). */
export function defaultRestoreDir(root: string, project: string, database: string, at = new Date()): string {
  const t = at.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return join(projectRestoreDir(root, project), `${database}-restore-${t}-${randomBytes(3).toString('hex')}`);
}

/**
 * Create a directory the restored server can use: when the daemon runs as root, PostgreSQL runs
 * as the postgres OS user and must own (and be able to reach) its directories.
 */
export function ensureOwnedDir(dir: string): void {
  const owner = postgresOsUser();
  const first = mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!owner) return;
  for (let d = dir; ; d = dirname(d)) {
    chownSync(d, owner.uid, owner.gid);
    chmodSync(d, 0o700);
    if (first === undefined || d === first || d === dirname(d)) break;
  }
}
