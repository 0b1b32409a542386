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
  /** The repository is in an older format (or mid-upgrade): `pitrd repo upgrade` brings it to this pitrd's. */
  REPO_UPGRADE_REQUIRED: 500,
  REPO_KEY_REQUIRED: 403,
  OBJECT_NOT_FOUND: 404,
  OBJECT_EXISTS: 409,
  STORAGE_UNAVAILABLE: 503,
  STORAGE_ERROR: 502,
  /** The WAL spool reached spool.max_bytes or its disk is full: WAL is not confirmed until uploads free space. */
  SPOOL_FULL: 507,
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
  /** The server broke the wire protocol (a message length no backend sends): a hostile or corrupt stream, never allocated. */
  POSTGRES_PROTOCOL_VIOLATION: 502,
  WAL_NOT_ARCHIVED: 504,
  FORBIDDEN: 403,
  SIGNED_URL_INVALID: 403,
  SIGNED_URL_EXPIRED: 403,
  DEMO_FAILED: 500,
  BRANCH_NOT_FOUND: 404,
  /** Too many failed authentications from one client address (its own bucket, see src/api/auth-failures.ts). */
  AUTH_RATE_LIMITED: 429,
  /** Another daemon holds the spool's lock file (src/daemon/spool-lock.ts). */
  SPOOL_LOCKED: 409,
  /** A restore point name created more than once on the lineage, with no backup to say which one is meant. */
  TARGET_AMBIGUOUS: 422,
  /** A restore would pass restores.max_per_database or restores.max_total (config). */
  RESTORE_LIMIT_REACHED: 409,
  /** A restore would not fit on the restore directory's file system (figures in the message). */
  INSUFFICIENT_DISK_SPACE: 507,
  /** The source runs a PostgreSQL major pitrd does not support (12 or older, 19 or newer); the message names it. */
  POSTGRES_VERSION_UNSUPPORTED: 422,
  /** No server binaries of the backup's PostgreSQL major on this host (postgres.bin_dirs, discovery); the message names the major. */
  POSTGRES_BINARIES_MISSING: 409,
  /** A restore drill already runs on this host (drills run one at a time per daemon). */
  DRILL_IN_PROGRESS: 409,
  DRILL_NOT_FOUND: 404,
  /** A restore drill's check failed on the restored server (amcheck, a row count, the configured check SQL); the message names the object. */
  DRILL_CHECK_FAILED: 500,
  /** An event id (`pitrd events`, `before_event`) that is not of the form evt_{LSN}_{TIMELINE}_{N}. */
  EVENT_ID_INVALID: 400,
  /** A well-formed event id the database's event index does not hold (never indexed, or its WAL expired). */
  EVENT_NOT_FOUND: 404,
  /** A managed instance (a PostgreSQL server pitrd created and runs) could not be created or started; the record's error says why. */
  INSTANCE_FAILED: 500,
  /** An infrai snapshot (a base backup) that does not exist or is outside the token's projects. */
  SNAPSHOT_NOT_FOUND: 404,
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export type ErrorContext = Record<string, unknown>;

/**
 * What an API client is told for a server-side failure. The message of a 5xx error is written for
 * the operator (it names paths, hosts, buckets, SQL, PostgreSQL's log tail) and goes to the log
 * only; the client gets the code, this text and the request id to quote.
 */
const PUBLIC_SERVER_MESSAGES: Partial<Record<ErrorCode, string>> = {
  STORAGE_UNAVAILABLE: 'the repository storage is unavailable; retry later',
  STORAGE_ERROR: 'the repository storage refused the operation',
  POSTGRES_UNREACHABLE: 'the protected PostgreSQL server cannot be reached',
  POSTGRES_AUTH_FAILED: "the protected PostgreSQL server refused the daemon's credentials",
  POSTGRES_DATABASE_NOT_FOUND: 'the protected PostgreSQL server has no such database',
  REPLICATION_NOT_PERMITTED: 'the protected PostgreSQL server does not permit replication to the daemon',
  REPLICATION_ERROR: 'replication from the protected PostgreSQL server failed',
  POSTGRES_PROTOCOL_VIOLATION: 'the protected PostgreSQL server sent bytes that break the protocol',
  BACKUP_FAILED: 'the base backup failed',
  RESTORE_FAILED: 'the restore failed',
  DRILL_CHECK_FAILED: 'a check of the restore drill failed on the restored server',
  INSTANCE_FAILED: 'creating or starting the PostgreSQL instance failed',
  TIMEOUT: 'the operation timed out',
  WAL_NOT_ARCHIVED: 'the WAL needed is not archived yet',
  REPO_INVALID: 'the repository is not in a state the daemon can read',
  REPO_FORMAT_UNSUPPORTED: "the repository's format is not supported by this daemon",
  CHECKSUM_MISMATCH: 'stored data failed its checksum',
  DECRYPT_FAILED: 'stored data could not be decrypted',
  TRUNCATED_OBJECT: 'stored data is truncated',
  COMPRESSION_ERROR: 'stored data could not be decompressed',
};
const PUBLIC_INTERNAL = 'internal server error';

export class PitrdError extends Error {
  readonly code: ErrorCode;
  readonly context: ErrorContext;
  /** True when trying the same operation again later may succeed (network, outage). */
  readonly retryable: boolean;
  /** Set when the thrower wrote a client-safe text for a server error (see publicMessage). */
  private readonly publicText: string | undefined;

  /**
   * `message` is for the log. A 4xx message is about the request and is also what the client
   * reads, so it must not name server internals (absolute paths, hosts, buckets): put those in
   * `context` (logged, never sent). A 5xx message is never sent; `public` may give a safe text.
   */
  constructor(code: ErrorCode, message: string, opts: { context?: ErrorContext; cause?: unknown; retryable?: boolean; public?: string } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'PitrdError';
    this.code = code;
    this.context = Object.freeze({ ...(opts.context ?? {}) });
    this.retryable = opts.retryable ?? false;
    this.publicText = opts.public;
  }

  get httpStatus(): number {
    return ErrorCodes[this.code];
  }

  /** What an API client may read (the one rule: 4xx = the message, 5xx = a safe text per code). */
  get publicMessage(): string {
    return this.publicText ?? publicTextFor(this.code, this.message);
  }

  toJSON(): { code: ErrorCode; message: string; context: ErrorContext } {
    return { code: this.code, message: this.message, context: this.context };
  }
}

/** The client-safe text for an error of `code` whose full message is `message`. */
export function publicTextFor(code: ErrorCode | string, message: string): string {
  const status = (ErrorCodes as Record<string, number>)[code];
  if (status !== undefined && status < 500) return message;
  return PUBLIC_SERVER_MESSAGES[code as ErrorCode] ?? PUBLIC_INTERNAL;
}

/** Code and client-safe text of anything thrown (non-PitrdErrors are INTERNAL_ERROR). */
export function publicErrorOf(err: unknown): { code: ErrorCode; message: string } {
  if (err instanceof PitrdError) return { code: err.code, message: err.publicMessage };
  return { code: 'INTERNAL_ERROR', message: PUBLIC_INTERNAL };
}

/**
 * A failure as a record stores it (backup.json, restores/{id}.json, branch state): `error` with
 * every detail for the operator (CLI, logs) and `error_public`, the text the API shows.
 */
export function recordedError(err: unknown): { error: string; error_public: string } {
  const p = publicErrorOf(err);
  const code = err instanceof PitrdError ? err.code : p.code;
  return { error: `${code}: ${errorMessage(err)}`, error_public: `${code}: ${p.message}` };
}

/**
 * What the API shows of a record's failure: its `error_public`; for a record written before
 * that field existed, the client-safe text of the code its `error` starts with (`CODE: …`).
 */
export function publicRecordError(rec: { error?: unknown; error_public?: unknown }): string | null {
  if (typeof rec.error_public === 'string') return rec.error_public;
  if (typeof rec.error !== 'string') return null;
  const m = /^([A-Z][A-Z_]+): ([\s\S]*)$/.exec(rec.error);
  if (m && m[1]! in ErrorCodes) return `${m[1]}: ${publicTextFor(m[1]!, m[2]!)}`;
  return PUBLIC_INTERNAL;
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

/** Anything thrown, as the object every log line carries under `err`. */
export interface LoggedError {
  type: string;
  /** The PitrdError code, else a Node system code (ENOENT…), else INTERNAL_ERROR. */
  code: string;
  message: string;
  stack?: string;
  context?: ErrorContext;
  cause?: LoggedError;
}

/**
 * The one shape of an error in the logs: type, code, message, stack, context and cause, as a
 * plain object. Plain, not the Error itself, because receiver logs cross a thread boundary
 * (structured clone drops an Error's own fields such as `code`) and because a message alone
 * hides where a failure came from.
 */
export function loggedError(err: unknown, depth = 0): LoggedError {
  if (!(err instanceof Error)) return { type: typeof err, code: 'INTERNAL_ERROR', message: String(err) };
  const nodeCode = (err as { code?: unknown }).code;
  const out: LoggedError = {
    type: err.name,
    code: err instanceof PitrdError ? err.code : typeof nodeCode === 'string' ? nodeCode : 'INTERNAL_ERROR',
    message: err.message,
  };
  if (err.stack !== undefined) out.stack = err.stack;
  if (err instanceof PitrdError && Object.keys(err.context).length > 0) out.context = err.context;
  if (err.cause !== undefined && depth < 4) out.cause = loggedError(err.cause, depth + 1);
  return out;
}
