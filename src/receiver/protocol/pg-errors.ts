/**
 * Map what pg throws to PitrdError codes, and decide which failures are permanent (fixing them
 * needs a human: wrong password, missing permission, server not configured for replication) and
 * which are worth retrying soon (network, server restart). Pure.
 */
import { PitrdError, errorMessage, type ErrorCode } from '../../errors.js';

interface PgLikeError {
  code?: string;
  message?: string;
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH']);

export function classifyPgError(err: unknown, what: string): PitrdError {
  if (err instanceof PitrdError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as PgLikeError;
  const sqlstate = typeof e.code === 'string' ? e.code : undefined;
  const msg = errorMessage(err);
  const mk = (code: ErrorCode, text: string, retryable: boolean) =>
    new PitrdError(code, `${what}: ${text}`, { cause: err, retryable, context: { sqlstate, server_message: msg } });

  if (sqlstate === '28P01') return mk('POSTGRES_AUTH_FAILED', `authentication failed (${msg})`, false);
  if (sqlstate === '28000') {
    // "no pg_hba.conf entry for replication connection" and friends.
    return mk('REPLICATION_NOT_PERMITTED', `connection not authorized (${msg})`, false);
  }
  if (sqlstate === '42501') return mk('REPLICATION_NOT_PERMITTED', `the role lacks the REPLICATION attribute (${msg})`, false);
  if (sqlstate === '53300' && /max_wal_senders \(currently 0\)/.test(msg)) {
    return mk('REPLICATION_NOT_PERMITTED', `the server does not allow replication connections: max_wal_senders = 0 (wal_level must be replica or logical) (${msg})`, false);
  }
  if (sqlstate === '55000' && /wal_level|max_replication_slots|max_wal_senders/.test(msg)) {
    return mk('REPLICATION_NOT_PERMITTED', `the server is not configured for physical replication (${msg})`, false);
  }
  if (sqlstate === '3D000') return mk('POSTGRES_UNREACHABLE', `database does not exist (${msg})`, false);
  if (sqlstate === '58P01') return mk('WAL_GAP', `the server no longer has the requested WAL (${msg})`, true);
  if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) return mk('POSTGRES_UNREACHABLE', msg, true);
  if (/Connection terminated|timeout expired|connect ECONNREFUSED|socket/i.test(msg)) return mk('POSTGRES_UNREACHABLE', msg, true);
  // Shutdown (57P01..57P03), too many connections and everything else: try again later.
  return mk('REPLICATION_ERROR', msg, true);
}
