/**
 * `pitrd config check`'s view of each configured database's PostgreSQL major and of this host's
 * server binaries for it: the major is asked of the server (a short SQL connection, a few seconds
 * at most; null with the reason when it cannot be asked), the binaries are postgres.bin_dirs and
 * discovery's (src/postgres/cluster/bin-dirs.ts). `GET …/databases/:name` shows the same.
 */
import type { Config } from '../../config/index.js';
import { sourceConnection } from '../../config/index.js';
import { errorMessage, isPitrdError } from '../../errors.js';
import { hostBinDirs, restoreBinaries, type RestoreBinaries } from '../../postgres/cluster/index.js';
import { isSupportedMajor, majorOf, readServerVersionNum, SUPPORTED_MAJORS } from '../../postgres/index.js';

export interface DatabaseMajor {
  database: string;
  project: string;
  /** The server's major, null when it could not be asked (`error` says why). */
  pg_major: number | null;
  /** pitrd supports the major (13 to 18); null while unknown. */
  supported: boolean | null;
  /** Server binaries of that major on this host; null while the major is unknown. */
  restore_binaries: RestoreBinaries | null;
  error?: string;
}

/** Ask every configured database's server for its major (one after another, `timeoutMs` each at most). */
export async function databaseMajors(config: Config, timeoutMs = 3_000): Promise<DatabaseMajor[]> {
  const out: DatabaseMajor[] = [];
  for (const db of config.databases) {
    const base = { database: db.name, project: db.project };
    try {
      const major = majorOf(await readServerVersionNum(sourceConnection(db), timeoutMs));
      out.push({ ...base, pg_major: major, supported: isSupportedMajor(major), restore_binaries: restoreBinaries(major, hostBinDirs()) });
    } catch (err) {
      out.push({ ...base, pg_major: null, supported: null, restore_binaries: null, error: `${isPitrdError(err) ? `${err.code}: ` : ''}${errorMessage(err)}` });
    }
  }
  return out;
}

/** Server binaries per supported major on this host (postgres.bin_dirs first, then discovery); null where there are none. */
export function hostBinaries(): Record<string, string | null> {
  const dirs = hostBinDirs();
  return Object.fromEntries(SUPPORTED_MAJORS.map((m) => {
    const b = restoreBinaries(m, dirs);
    return [String(m), b.available ? b.bin_dir : null];
  }));
}

/** The human lines (YAML comments, after the configuration). */
export function majorsText(majors: DatabaseMajor[], binaries: Record<string, string | null>): string {
  const lines = ['# PostgreSQL server binaries on this host (restores and branches run those of the backup\'s major):'];
  for (const [m, dir] of Object.entries(binaries)) lines.push(`#   ${m}: ${dir ?? 'none (set postgres.bin_dirs.' + m + ')'}`);
  if (majors.length) lines.push('# databases:');
  for (const d of majors) {
    if (d.pg_major === null) {
      lines.push(`#   ${d.database}: major unknown (could not ask the server: ${d.error ?? 'no answer'})`);
      continue;
    }
    const supported = d.supported ? '' : ` (not supported: pitrd supports ${SUPPORTED_MAJORS[0]} to ${SUPPORTED_MAJORS[SUPPORTED_MAJORS.length - 1]})`;
    const bins = d.restore_binaries?.available ? `restore binaries in ${d.restore_binaries.bin_dir}` : `no restore binaries on this host${d.restore_binaries?.bin_dir ? ` (postgres.bin_dirs says ${d.restore_binaries.bin_dir}, which has no pg_ctl and postgres)` : ''}: restores and branches would be refused`;
    lines.push(`#   ${d.database}: PostgreSQL ${d.pg_major}${supported}; ${bins}`);
  }
  return lines.join('\n');
}
