/**
 * The one place a `pg.Client` to a source server is made: the receiver's replication and SQL
 * connections, both base-backup connections, and the daemon's slot queries all come here, so
 * sslmode, sslrootcert, sslcert and sslkey mean the same thing on every connection
 * (./tls-plan.ts has the rules). The client's TLS is always set explicitly: pg would otherwise
 * turn it on from PGSSLMODE in the environment.
 */
import type net from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import pg from 'pg';
import { PitrdError, errorMessage } from '../errors.js';
import { describeSource, type SourceConnection } from './source.js';
import { readTlsMaterial, type TlsMaterial } from './tls-files.js';
import { attemptFailure, tlsPlan, tryNext, type Attempt, type AttemptFailure, type Verification } from './tls-plan.js';

export interface SourceClientOptions {
  applicationName: string;
  /** A physical replication connection (replication=true). */
  replication?: boolean;
  /**
   * The socket a plain attempt runs on (the receiver and base backups read into their own
   * buffers). A TLS attempt always runs on pg's own socket: pg reads the server's answer to the
   * SSLRequest and then the TLS socket it wraps around it, so bytes must reach pg untouched.
   */
  plainSocket?: () => net.Socket;
  queryTimeoutMs?: number;
}

/**
 * Connect, following the sslmode's plan. A connection that TLS settings refuse fails with
 * POSTGRES_TLS_UNAVAILABLE (the server offers no TLS) or POSTGRES_TLS_FAILED (the handshake or
 * the certificate check failed); any other failure is pg's error, for the caller to classify.
 */
export async function connectSource(conn: SourceConnection, opts: SourceClientOptions): Promise<pg.Client> {
  const tls = conn.tls ?? { sslmode: 'prefer' as const };
  const plan = tlsPlan(tls.sslmode, { hasRootCert: tls.sslrootcert !== undefined, unixSocket: conn.host.startsWith('/') });
  const material = plan.attempts.includes('tls') ? readTlsMaterial(tls, conn) : {};
  const failures: Array<{ attempt: Attempt; failure: AttemptFailure; err: unknown }> = [];
  for (const [i, attempt] of plan.attempts.entries()) {
    const client = new pg.Client(clientConfig(conn, opts, attempt === 'tls' ? tlsOptions(plan.verification, material) : false));
    // Errors before connect() settles are reported through its rejection.
    client.on('error', () => undefined);
    try {
      await client.connect();
      return client;
    } catch (err) {
      await client.end().catch(() => undefined);
      const failure = attemptFailure(err);
      failures.push({ attempt, failure, err });
      if (i < plan.attempts.length - 1 && tryNext(tls.sslmode, attempt, failure)) continue;
      throw finalError(conn, tls.sslmode, plan.verification, failures);
    }
  }
  throw new PitrdError('INTERNAL_ERROR', `${describeSource(conn)}: sslmode ${tls.sslmode} planned no connection attempt`);
}

/** The pg options of one attempt: the single body every source connection is built from. */
function clientConfig(conn: SourceConnection, opts: SourceClientOptions, ssl: false | ConnectionOptions): pg.ClientConfig {
  return {
    host: conn.host,
    port: conn.port,
    user: conn.user,
    ...(conn.password !== undefined ? { password: conn.password } : {}),
    ...(conn.database !== undefined && !opts.replication ? { database: conn.database } : {}),
    application_name: opts.applicationName,
    connectionTimeoutMillis: conn.connectTimeoutMs ?? 10_000,
    ...(opts.queryTimeoutMs !== undefined ? { query_timeout: opts.queryTimeoutMs } : {}),
    // Physical replication (no database): `replication: true` sends replication=true.
    ...(opts.replication ? { replication: true } : {}),
    ssl,
    // Not from PGSSLNEGOTIATION: the SSLRequest of PostgreSQL < 17 (direct TLS needs 17).
    sslnegotiation: 'postgres',
    ...(ssl === false && opts.plainSocket ? { stream: opts.plainSocket } : {}),
  } as pg.ClientConfig;
}

function tlsOptions(verification: Verification, m: TlsMaterial): ConnectionOptions {
  return {
    ...(m.ca !== undefined ? { ca: m.ca } : {}),
    ...(m.cert !== undefined ? { cert: m.cert } : {}),
    ...(m.key !== undefined ? { key: m.key } : {}),
    // Without a root certificate, verify-ca/verify-full trust Node's bundled CA store.
    rejectUnauthorized: verification !== 'none',
    // pg gives tls.connect the host (and, for a name, the servername) checked here.
    ...(verification === 'chain' ? { checkServerIdentity: () => undefined } : {}),
  };
}

function finalError(conn: SourceConnection, mode: string, verification: Verification, failures: Array<{ attempt: Attempt; failure: AttemptFailure; err: unknown }>): unknown {
  // allow: when the TLS retry only learns that the server has no TLS, the plain refusal is the news.
  const last = failures.length > 1 && failures.at(-1)!.failure === 'no-tls' ? failures.at(-2)! : failures.at(-1)!;
  const who = describeSource(conn);
  const context = { database: conn.name, host: conn.host, port: conn.port, sslmode: mode };
  if (last.failure === 'no-tls') {
    return new PitrdError('POSTGRES_TLS_UNAVAILABLE', `${who}: sslmode ${mode} requires TLS, but the server does not offer it (ssl = off on the server)`, {
      cause: last.err,
      context: { ...context, reason: 'server_without_tls' },
    });
  }
  if (last.failure === 'tls') {
    const { reason, text } = tlsReason(last.err, conn, verification);
    return new PitrdError('POSTGRES_TLS_FAILED', `${who}: TLS with sslmode ${mode} failed: ${text}`, {
      cause: last.err,
      context: { ...context, reason, tls_code: (last.err as { code?: unknown }).code },
    });
  }
  return last.err;
}

const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
  'INVALID_CA',
]);

function tlsReason(err: unknown, conn: SourceConnection, verification: Verification): { reason: string; text: string } {
  const code = (err as { code?: unknown }).code;
  const msg = errorMessage(err);
  const roots = conn.tls?.sslrootcert !== undefined ? `sslrootcert ${conn.tls.sslrootcert}` : "Node's bundled CA certificates (no sslrootcert)";
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return { reason: 'host_name_mismatch', text: `the server's certificate is not issued for host "${conn.host}" (${msg})` };
  }
  if (typeof code === 'string' && UNTRUSTED.has(code)) {
    return { reason: 'untrusted_certificate', text: `the server's certificate is not signed by a CA in ${roots} (${code})` };
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') return { reason: 'certificate_not_valid_now', text: `the server's certificate ${msg}` };
  return { reason: 'handshake_failed', text: `${msg}${verification === 'none' ? '' : ` (verifying against ${roots})`}` };
}
