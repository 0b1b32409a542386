import { readFileSync } from 'node:fs';

/**
 * uid/gid of the `postgres` OS user when this process is root (PostgreSQL refuses to run as
 * root, and the files it owns must be its own); undefined when not root.
 */
export function postgresOsUser(name = 'postgres'): { uid: number; gid: number } | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
  if (!line) return undefined;
  const f = line.split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}
