/**
 * The environment of every process a restore starts (tar, pg_ctl and so the
 * restored postmaster, its restore_command and anything it runs). Built from an allow-list, never
 * from the daemon's own environment: that holds the S3 keys, the repository encryption key and
 * whatever else the operator exported, and a restored server runs SQL its source's owner wrote.
 */

/** Variables passed through when the daemon has them: none of them carries a secret. */
const PASSED = ['PATH', 'TZ', 'TMPDIR'] as const;

const DEFAULT_PATH = '/usr/local/bin:/usr/bin:/bin';

/**
 * The child environment: the allow-listed variables, a fixed locale (pitrd parses the server's
 * messages) and, for the postgres OS user when the daemon is root, its own HOME and USER.
 */
export function childEnv(asUser: string | null, from: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = { PATH: DEFAULT_PATH };
  for (const k of PASSED) {
    const v = from[k];
    if (v !== undefined && v !== '') env[k] = v;
  }
  env.LC_ALL = 'C.UTF-8';
  if (asUser !== null) Object.assign(env, { HOME: '/tmp', USER: asUser, LOGNAME: asUser });
  else if (from.HOME !== undefined) env.HOME = from.HOME;
  return env;
}
