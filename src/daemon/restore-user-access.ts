/**
 * The boundary between the daemon and the servers it starts. When the daemon runs as root, every
 * restored server (and so whoever is superuser in it: COPY … PROGRAM runs OS commands) runs as
 * the postgres OS user. That user must not reach what the daemon guards: the configuration, the
 * tokens file, key and password files, the repository (backups of every project, the URL signing
 * secret) and the spool (unarchived WAL). The daemon cannot know every way the operator arranged
 * permissions, so it asks the OS itself: `test` run as that user, exactly as restores run (same
 * uid and gid, no supplementary groups, the allow-listed environment).
 */
import { statSync } from 'node:fs';
import { execa } from 'execa';
import type { Config } from '../config/index.js';
import { asOwner, postgresOsUser } from '../postgres/cluster/index.js';

export interface GuardedPath {
  what: string;
  path: string;
}

/** The files and directories the restore OS user must not read, from the config. */
export function guardedPaths(config: Config): GuardedPath[] {
  const out: GuardedPath[] = [];
  if (config.source !== undefined) out.push({ what: 'configuration file', path: config.source });
  if (config.api.tokens_file !== undefined) out.push({ what: 'API tokens file', path: config.api.tokens_file });
  if (config.encryption.key_file !== undefined) out.push({ what: 'encryption key file', path: config.encryption.key_file });
  if (config.storage.type === 'fs') out.push({ what: 'fs repository (backups of every project, the URL signing secret)', path: config.storage.path });
  out.push({ what: 'WAL spool', path: config.spool_dir });
  for (const db of config.databases) {
    if (db.connection.password_file !== undefined) out.push({ what: `password file of database "${db.name}"`, path: db.connection.password_file });
  }
  return out;
}

/**
 * The guarded paths the restore OS user can read (a file) or enter (a directory: the names
 * inside are known, so entering is enough). Empty when the daemon is not root: restored servers
 * then run as the daemon's own user, which reads all of it by definition.
 */
export async function readableByRestoreUser(paths: readonly GuardedPath[]): Promise<GuardedPath[]> {
  const owner = postgresOsUser();
  if (!owner) return [];
  const out: GuardedPath[] = [];
  for (const p of paths) {
    let dir: boolean;
    try {
      dir = statSync(p.path).isDirectory();
    } catch {
      continue;
    }
    const r = await execa('test', [dir ? '-x' : '-r', p.path], { ...asOwner(owner), reject: false });
    if (r.exitCode === 0) out.push(p);
  }
  return out;
}
