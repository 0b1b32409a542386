/**
 * Every error pitrd raises on purpose is declared here, pgBackRest-style: one place, stable codes.
 *
 * A code is part of the public contract: the HTTP API returns it in `{success:false, error:{code}}`,
 * the CLI prints it, tests assert on it. Never rename one; add new ones.
 *
 * Each error carries `context`: the key, id, path, LSN or time it is about. Messages say what was
 * wrong and why, so a user can act on them without reading a stack trace.
 */

export const ErrorCodes = {
  // API contract codes (shared/seeds/004): keep these spellings.
  AUTH_REQUIRED: 401,
  PROJECT_NOT_FOUND: 404,
  DATABASE_NOT_FOUND: 404,
  BACKUP_NOT_FOUND: 404,
  PITR_NOT_ENABLED: 409,
  TARGET_TIME_INVALID: 422,
  RATE_LIMIT_EXCEEDED: 429,
  INTERNAL_ERROR: 500,
  // pitrd's own, in the same style.
  VALIDATION_ERROR: 400,
  CONFIG_INVALID: 400,
  NOT_FOUND: 404,
  RESTORE_NOT_FOUND: 404,
  CONFLICT: 409,
  BACKUP_IN_PROGRESS: 409,
  WAL_GAP: 422,
  WAL_SEGMENT_CONFLICT: 409,
  WAL_INVALID: 422,
  SYSTEM_ID_MISMATCH: 409,
  REPO_INVALID: 500,
  REPO_KEY_MISMATCH: 403,
  REPO_FORMAT_UNSUPPORTED: 500,
  REPO_KEY_REQUIRED: 403,
  OBJECT_NOT_FOUND: 404,
  OBJECT_EXISTS: 409,
  STORAGE_UNAVAILABLE: 503,
  STORAGE_ERROR: 502,
  CHECKSUM_MISMATCH: 500,
  DECRYPT_FAILED: 500,
  TRUNCATED_OBJECT: 500,
  COMPRESSION_ERROR: 500,
  POSTGRES_UNREACHABLE: 502,
  POSTGRES_AUTH_FAILED: 502,
  REPLICATION_NOT_PERMITTED: 502,
  REPLICATION_ERROR: 502,
  BACKUP_FAILED: 500,
  RESTORE_FAILED: 500,
  TARGET_DIR_NOT_EMPTY: 409,
  TIMEOUT: 504,
  POSTGRES_DATABASE_NOT_FOUND: 502,
  /** The connection's sslmode requires TLS (require, verify-ca, verify-full) and the server offers none. */
  POSTGRES_TLS_UNAVAILABLE: 502,
  /** The TLS handshake failed: certificate not signed by a trusted CA, host name not in it, or refused. */
  POSTGRES_TLS_FAILED: 502,
  WAL_NOT_ARCHIVED: 504,
  FORBIDDEN: 403,
  SIGNED_URL_INVALID: 403,
  SIGNED_URL_EXPIRED: 403,
  DEMO_FAILED: 500,
  BRANCH_NOT_FOUND: 404,
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export type ErrorContext = Record<string, unknown>;

export class PitrdError extends Error {
  readonly code: ErrorCode;
  readonly context: ErrorContext;
  /** True when trying the same operation again later may succeed (network, outage). */
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, opts: { context?: ErrorContext; cause?: unknown; retryable?: boolean } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'PitrdError';
    this.code = code;
    this.context = Object.freeze({ ...(opts.context ?? {}) });
    this.retryable = opts.retryable ?? false;
  }

  get httpStatus(): number {
    return ErrorCodes[this.code];
  }

  toJSON(): { code: ErrorCode; message: string; context: ErrorContext } {
    return { code: this.code, message: this.message, context: this.context };
  }
}

/** Narrow `unknown` to a PitrdError, optionally of one code. */
export function isPitrdError(err: unknown, code?: ErrorCode): err is PitrdError {
  return err instanceof PitrdError && (code === undefined || err.code === code);
}

/** Storage did not answer (down, refused, timed out), as opposed to answering something wrong. */
export function isStorageUnreachable(err: unknown): boolean {
  return isPitrdError(err, 'STORAGE_UNAVAILABLE') || (isPitrdError(err, 'STORAGE_ERROR') && err.retryable);
}

/** The message of anything thrown, for logs and status fields. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
