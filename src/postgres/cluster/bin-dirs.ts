/**
 * Which directory holds the server binaries (pg_ctl, postgres) of each PostgreSQL major on this
 * host: `postgres.bin_dirs` from the configuration first, then the usual places (Debian/Ubuntu
 * /usr/lib/postgresql/N/bin, RHEL /usr/pgsql-N/bin) after PITRD_PG_BIN, then PATH (those two asked
 * for their version). A restore or branch runs the binaries of its backup's major: a data directory of one
 * major cannot be run by another's postgres.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PitrdError } from '../../errors.js';
import { SUPPORTED_MAJORS } from '../versions.js';

export type BinDirs = ReadonlyMap<number, string>;

const hasServer = (dir: string) => existsSync(join(dir, 'pg_ctl')) && existsSync(join(dir, 'postgres'));

/** The usual places of a major's binaries, in the order they are tried. */
export function usualPlaces(major: number): string[] {
  return [`/usr/lib/postgresql/${major}/bin`, `/usr/pgsql-${major}/bin`];
}

/** Major of the pg_ctl in dir (`pg_ctl --version`); null when there is none or it does not answer. */
function majorOfDir(dir: string): number | null {
  if (!hasServer(dir)) return null;
  const r = spawnSync(join(dir, 'pg_ctl'), ['--version'], { encoding: 'utf8', timeout: 10_000 });
  const m = /\(PostgreSQL\)\s+(\d+)/.exec(r.stdout ?? '');
  return m ? Number(m[1]) : null;
}

/**
 * Every major with server binaries here. `configured` (postgres.bin_dirs, major → directory)
 * wins; it is taken as given (config check reports a configured directory without pg_ctl).
 */
export function discoverBinDirs(configured: Readonly<Record<string, string>> = {}, env: NodeJS.ProcessEnv = process.env): BinDirs {
  const found = new Map<number, string>();
  for (const [k, dir] of Object.entries(configured)) found.set(Number(k), dir);
  const byVersion = (dir: string | undefined) => {
    const major = dir ? majorOfDir(dir) : null;
    if (major !== null && !found.has(major)) found.set(major, dir!);
  };
  // PITRD_PG_BIN is an explicit choice: it comes before the usual places, PATH after them.
  byVersion(env.PITRD_PG_BIN);
  for (const major of SUPPORTED_MAJORS) {
    if (found.has(major)) continue;
    const dir = usualPlaces(major).find(hasServer);
    if (dir) found.set(major, dir);
  }
  for (const dir of (env.PATH ?? '').split(':')) byVersion(dir);
  return found;
}

/** The directory of a major's binaries, or POSTGRES_BINARIES_MISSING naming the major and where pitrd looked. */
export function binDirFor(major: number, dirs: BinDirs): string {
  const dir = dirs.get(major);
  if (dir !== undefined && hasServer(dir)) return dir;
  const where = dir !== undefined ? `postgres.bin_dirs says ${dir}, which has no pg_ctl and postgres` : `looked in postgres.bin_dirs, ${usualPlaces(major).join(', ')}, PITRD_PG_BIN and PATH`;
  throw new PitrdError('POSTGRES_BINARIES_MISSING', `no PostgreSQL ${major} server binaries on this host (${where}); install them or set postgres.bin_dirs.${major}`, {
    context: { major, ...(dir !== undefined ? { bin_dir: dir } : {}) },
  });
}

/** Whether this host can run `major`'s servers (restores, branches), and from which directory. */
export interface RestoreBinaries {
  available: boolean;
  /** The directory that has them; when unavailable, the configured directory that lacks them, or null. */
  bin_dir: string | null;
}

/** What `GET …/databases/:name` and `pitrd config check` show of a major's server binaries here. */
export function restoreBinaries(major: number, dirs: BinDirs): RestoreBinaries {
  const dir = dirs.get(major);
  return { available: dir !== undefined && hasServer(dir), bin_dir: dir ?? null };
}

let configured: Readonly<Record<string, string>> = {};
let cached: BinDirs | null = null;

/** postgres.bin_dirs of the loaded configuration (the daemon and the CLI set it once they read it). */
export function setConfiguredBinDirs(dirs: Readonly<Record<string, string>> | undefined): void {
  configured = { ...(dirs ?? {}) };
  cached = null;
}

/** This host's binaries by major: the configured ones and the discovered ones (looked up once). */
export function hostBinDirs(): BinDirs {
  cached ??= discoverBinDirs(configured);
  return cached;
}

/** Major of a data directory (its PG_VERSION file); null when unreadable. */
export function dataDirMajor(dataDir: string): number | null {
  try {
    const v = Number.parseInt(readFileSync(join(dataDir, 'PG_VERSION'), 'utf8').trim(), 10);
    return Number.isFinite(v) ? v : null;
  } catch {
    return null;
  }
}
