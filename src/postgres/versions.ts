/**
 * PostgreSQL major versions: which ones pitrd supports, and the facts that differ between them.
 * Every version test in pitrd asks here (the WAL page format per major is src/wal/format.ts's,
 * which sits below this folder). Pure.
 */
import { PitrdError } from '../errors.js';

export const OLDEST_SUPPORTED_MAJOR = 13;
export const NEWEST_SUPPORTED_MAJOR = 18;

/** Every supported major, oldest first. */
export const SUPPORTED_MAJORS: readonly number[] = Array.from({ length: NEWEST_SUPPORTED_MAJOR - OLDEST_SUPPORTED_MAJOR + 1 }, (_, i) => OLDEST_SUPPORTED_MAJOR + i);

/** server_version_num (e.g. 170004) → major (17). Since 10 a major is one number. */
export function majorOf(serverVersionNum: number): number {
  return Math.floor(serverVersionNum / 10000);
}

export function isSupportedMajor(major: number): boolean {
  return Number.isInteger(major) && major >= OLDEST_SUPPORTED_MAJOR && major <= NEWEST_SUPPORTED_MAJOR;
}

/**
 * POSTGRES_VERSION_UNSUPPORTED unless the server's major is 13 to 18. `what` names the server
 * (database name) for the message.
 */
export function assertSupportedVersion(serverVersionNum: number, what: string): number {
  const major = majorOf(serverVersionNum);
  if (!isSupportedMajor(major)) {
    throw new PitrdError('POSTGRES_VERSION_UNSUPPORTED', `${what} runs PostgreSQL ${major} (server_version_num ${serverVersionNum}); pitrd supports PostgreSQL ${OLDEST_SUPPORTED_MAJOR} to ${NEWEST_SUPPORTED_MAJOR}`, {
      context: { server_version_num: serverVersionNum, major },
    });
  }
  return major;
}

/** READ_REPLICATION_SLOT is a replication command from 15; before, pg_replication_slots over SQL. */
export function hasReadReplicationSlot(major: number): boolean {
  return major >= 15;
}

/**
 * BASE_BACKUP takes a parenthesised option list and sends every archive inside one COPY (the
 * 'n'/'d'/'p' CopyData messages) from 15; before, bare keywords and one COPY per archive.
 */
export function hasNewBaseBackupProtocol(major: number): boolean {
  return major >= 15;
}
