/**
 * libpq's sslmode, as a plan: which attempts (TLS, plain) a connection makes and in what order,
 * how much of the server's certificate is checked, and which failure of one attempt moves on to
 * the next. Pure: ./source-client.ts runs the plan.
 *
 * The libpq rules followed (fe-connect.c, fe-secure-openssl.c, PostgreSQL 15):
 *  - disable: plain only. require / verify-ca / verify-full: TLS only.
 *  - prefer: TLS first; if the server does not offer TLS, the handshake fails, or the server
 *    refuses the TLS connection at startup, once more in plain.
 *  - allow: plain first; if the server refuses it at startup, once more with TLS.
 *  - verify-ca checks the chain, verify-full the chain and the host name. The other modes check
 *    nothing, except that a root certificate (sslrootcert) makes them check the chain, as libpq
 *    does when its root certificate file exists.
 *  - A Unix-domain socket never uses TLS, whatever the mode.
 */

import { SSL_MODES, type SslMode } from '../types.js';

export { SSL_MODES, type SslMode };

export type Attempt = 'tls' | 'plain';

/** none: encrypt only; chain: the certificate must lead to a trusted root; full: and name the host. */
export type Verification = 'none' | 'chain' | 'full';

export interface TlsPlan {
  attempts: Attempt[];
  verification: Verification;
}

export function tlsPlan(mode: SslMode, opts: { hasRootCert: boolean; unixSocket: boolean }): TlsPlan {
  const verification: Verification = mode === 'verify-full' ? 'full' : mode === 'verify-ca' || opts.hasRootCert ? 'chain' : 'none';
  if (opts.unixSocket) return { attempts: ['plain'], verification };
  const attempts: Record<SslMode, Attempt[]> = {
    disable: ['plain'],
    allow: ['plain', 'tls'],
    prefer: ['tls', 'plain'],
    require: ['tls'],
    'verify-ca': ['tls'],
    'verify-full': ['tls'],
  };
  return { attempts: attempts[mode], verification };
}

/**
 * Why an attempt failed. no-tls: the server answered the SSLRequest with 'N'; tls: the handshake
 * failed (certificate not trusted, wrong host name, protocol); server: the server sent an error
 * during startup (pg_hba.conf, authentication); network: anything else.
 */
export type AttemptFailure = 'no-tls' | 'tls' | 'server' | 'network';

/** Node's and OpenSSL's codes for a failed handshake or certificate check. */
const TLS_CODE = /^(CERT_|UNABLE_TO_|SELF_SIGNED_|DEPTH_ZERO_|ERR_TLS_|ERR_SSL_|INVALID_CA|INVALID_PURPOSE|PATH_LENGTH_|HOSTNAME_|EPROTO$)/;

export function attemptFailure(err: unknown): AttemptFailure {
  const e = (typeof err === 'object' && err !== null ? err : {}) as { code?: unknown; message?: unknown; severity?: unknown };
  const message = typeof e.message === 'string' ? e.message : '';
  // pg's own words for the server's answer to the SSLRequest (pg 8.x, lib/connection.js).
  if (message === 'The server does not support SSL connections') return 'no-tls';
  if (message === 'There was an error establishing an SSL connection') return 'tls';
  if (typeof e.code === 'string' && TLS_CODE.test(e.code)) return 'tls';
  // An ErrorResponse parsed by pg carries the server's severity and SQLSTATE.
  if (typeof e.severity === 'string' && typeof e.code === 'string') return 'server';
  return 'network';
}

/** Whether a failed attempt moves on to the plan's next attempt (libpq's fallbacks). */
export function tryNext(mode: SslMode, attempt: Attempt, failure: AttemptFailure): boolean {
  if (mode === 'prefer' && attempt === 'tls') return failure !== 'network';
  if (mode === 'allow' && attempt === 'plain') return failure === 'server';
  return false;
}
