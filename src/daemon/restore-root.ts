/**
 * The one directory tree the daemon restores into. A request may name a directory, but only
 * inside this root: the API must never become a way to write a PostgreSQL data directory (or
 * delete one, after a failed restore) anywhere on the daemon's host.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { PitrdError } from '../errors.js';
import { postgresOsUser } from '../restore/index.js';

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

/**
 * `requested` (relative to the root, or absolute) as an absolute path strictly inside the root,
 * also after resolving symlinks of its existing part; VALIDATION_ERROR naming `field` otherwise.
 */
export function resolveUnderRoot(root: string, requested: string, field = 'body.target_dir'): string {
  if (requested.includes('\0')) throw bad(field, 'contains a NUL character');
  const absRoot = resolve(root);
  const target = isAbsolute(requested) ? resolve(requested) : resolve(absRoot, requested);
  const inside = (r: string, t: string) => t.startsWith(r.endsWith(sep) ? r : r + sep);
  if (!inside(absRoot, target)) throw bad(field, `"${requested}" is outside the daemon's restore root ${absRoot}; give a path inside it (relative paths are taken from it)`);
  const realRoot = realExisting(absRoot);
  if (!inside(realRoot, realExisting(target))) throw bad(field, `"${requested}" leads outside the daemon's restore root ${absRoot} through a symbolic link`);
  return target;
}

/** A new directory name under the root for a restore of `database` (not created). */
export function defaultRestoreDir(root: string, database: string, at = new Date()): string {
  const t = at.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return join(resolve(root), database, `restore-${t}-${randomBytes(3).toString('hex')}`);
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
