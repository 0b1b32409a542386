/**
 * The CLI's exit statuses: one scheme for every command, declared once (README "Exit codes").
 *
 * Scripts and monitoring branch on these, so a code's meaning never changes. Which error code
 * (src/errors.ts) maps to which status is decided here and nowhere else.
 *
 * Two commands keep their own contract because another program reads it:
 * - `wal-fetch` is PostgreSQL's restore_command: 0 fetched, 1 not in the archive (PostgreSQL
 *   probes for files that may not exist), 2 any other failure.
 * - `check --nagios` answers in the Nagios plugin scheme: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
 */
import type { ErrorCode } from '../errors.js';

export const EXIT = Object.freeze({
  /** The command did what it was asked and found nothing wrong. */
  OK: 0,
  /** The operation failed, or it ran and found a problem (verify, check, a refused restore). */
  FAILED: 1,
  /** The command line itself is wrong: unknown command or option, a bad option value. */
  USAGE: 2,
  /** The configuration (file, environment, key file, tokens file) is missing or invalid. */
  CONFIG: 3,
  /** The repository's storage could not be reached or answered with an error. */
  STORAGE: 4,
});

export type ExitStatus = (typeof EXIT)[keyof typeof EXIT];

const BY_CODE: Partial<Record<ErrorCode, ExitStatus>> = {
  VALIDATION_ERROR: EXIT.USAGE,
  CONFIG_INVALID: EXIT.CONFIG,
  REPO_KEY_REQUIRED: EXIT.CONFIG,
  REPO_KEY_MISMATCH: EXIT.CONFIG,
  STORAGE_UNAVAILABLE: EXIT.STORAGE,
  STORAGE_ERROR: EXIT.STORAGE,
};

/** The exit status for an error code; anything not listed is an operation that failed. */
export function exitStatusOf(code: ErrorCode | undefined): ExitStatus {
  return (code !== undefined ? BY_CODE[code] : undefined) ?? EXIT.FAILED;
}
