import { childEnv } from './child-env.js';

/**
 * execa options for a child of a restore: as the postgres OS user when the daemon is root, with
 * the allow-listed environment only (extendEnv false: execa would otherwise merge process.env).
 */
export function asOwner(owner?: { uid: number; gid: number }): { uid?: number; gid?: number; env: NodeJS.ProcessEnv; extendEnv: false } {
  return owner ? { uid: owner.uid, gid: owner.gid, env: childEnv('postgres'), extendEnv: false } : { env: childEnv(null), extendEnv: false };
}
