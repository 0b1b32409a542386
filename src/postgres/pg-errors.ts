/**
 * The one map from what pg throws (a server ErrorResponse with its SQLSTATE, or a socket error) to
 * PitrdError codes, for every connection to a source: replication, base backup, SQL. It decides
 * which failures are permanent (fixing them needs a human: wrong password, missing permission,
 * server not configured for replication, no such database) and which are worth retrying soon
 * (network, server restart, every connection slot taken). Pure.
 *
 * Two copies used to disagree; the mapping kept for each SQLSTATE they differed on:
 *  - 3D000 (invalid_catalog_name): the database does not exist. POSTGRES_DATABASE_NOT_FOUND,
 *    permanent: the server answered, so POSTGRES_UNREACHABLE would send the operator to the network.
 *  - 53300 (too_many_connections): permanent REPLICATION_NOT_PERMITTED only when the server allows
 *    no WAL sender at all (max_wal_senders = 0, a configuration problem); otherwise every slot is
 *    busy for now, a retryable REPLICATION_ERROR.
 *  - 55000 (object_not_in_prerequisite_state): permanent only for the configuration messages
 *    (wal_level, max_wal_senders, max_replication_slots), as the receiver's copy had it.
 */
import { PitrdError, errorMessage, type ErrorCode } from '../errors.js';

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH']);

/** `what` names the connection or command that failed; it starts the message. */
export function classifyPgError(err: unknown, what: string): PitrdError {
  if (err instanceof PitrdError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as { code?: unknown };
  const code = typeof e.code === 'string' ? e.code : undefined;
  const msg = errorMessage(err);
  const mk = (c: ErrorCode, text: string, retryable: boolean) =>
    new PitrdError(c, `${what}: ${text}`, { cause: err, retryable, context: { sqlstate: code, server_message: msg } });

  if (code === '28P01') return mk('POSTGRES_AUTH_FAILED', `authentication failed (${msg})`, false);
  // "no pg_hba.conf entry for replication connection" and friends.
  if (code === '28000') return mk('REPLICATION_NOT_PERMITTED', `connection not authorized (${msg})`, false);
  if (code === '42501') return mk('REPLICATION_NOT_PERMITTED', `the role lacks the REPLICATION attribute (${msg})`, false);
  if (code === '3D000') return mk('POSTGRES_DATABASE_NOT_FOUND', `database does not exist (${msg})`, false);
  if (code === '53300') {
    if (/max_wal_senders \(currently 0\)/.test(msg)) {
      return mk('REPLICATION_NOT_PERMITTED', `the server does not allow replication connections: max_wal_senders = 0 (wal_level must be replica or logical) (${msg})`, false);
    }
    return mk('REPLICATION_ERROR', `no connection slot free (${msg})`, true);
  }
  // 55000 also covers passing states (a standby's restartpoint after full_page_writes=off): only
  // the configuration messages are permanent.
  if (code === '55000' && /wal_level|WAL level|max_replication_slots|max_wal_senders/.test(msg)) {
    return mk('REPLICATION_NOT_PERMITTED', `the server is not configured for physical replication (${msg})`, false);
  }
  // "requested WAL segment … has already been removed" (streaming), "could not find WAL file" (BASE_BACKUP's WAL).
  if (code === '58P01') return mk('WAL_GAP', `the server no longer has the requested WAL (${msg})`, true);
  if (code !== undefined && NETWORK_CODES.has(code)) return mk('POSTGRES_UNREACHABLE', `cannot reach the server (${msg})`, true);
  if (/Connection terminated|timeout expired|ECONNREFUSED|socket/i.test(msg)) return mk('POSTGRES_UNREACHABLE', msg, true);
  // Shutdown (57P01..57P03) and everything else: try again later.
  return mk('REPLICATION_ERROR', msg, true);
}
