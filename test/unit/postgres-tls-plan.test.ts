/** libpq's sslmode as a plan (src/postgres/tls-plan.ts): attempts, verification, fallbacks. Pure. */
import { describe, expect, it } from 'vitest';
import { SSL_MODES, attemptFailure, tlsPlan, tryNext } from '../../src/postgres/index.js';

describe('tlsPlan', () => {
  it('orders the attempts as libpq does', () => {
    const attempts = Object.fromEntries(SSL_MODES.map((m) => [m, tlsPlan(m, { hasRootCert: false, unixSocket: false }).attempts]));
    expect(attempts).toEqual({
      disable: ['plain'],
      allow: ['plain', 'tls'],
      prefer: ['tls', 'plain'],
      require: ['tls'],
      'verify-ca': ['tls'],
      'verify-full': ['tls'],
    });
  });

  it('checks nothing below verify-ca, unless a root certificate is given (then the chain)', () => {
    const v = (m: (typeof SSL_MODES)[number], hasRootCert: boolean) => tlsPlan(m, { hasRootCert, unixSocket: false }).verification;
    expect(['allow', 'prefer', 'require'].map((m) => v(m as 'allow', false))).toEqual(['none', 'none', 'none']);
    expect(['allow', 'prefer', 'require'].map((m) => v(m as 'allow', true))).toEqual(['chain', 'chain', 'chain']);
    expect([v('verify-ca', false), v('verify-ca', true), v('verify-full', false), v('verify-full', true)]).toEqual(['chain', 'chain', 'full', 'full']);
  });

  it('never uses TLS on a Unix-domain socket', () => {
    for (const m of SSL_MODES) expect(tlsPlan(m, { hasRootCert: true, unixSocket: true }).attempts).toEqual(['plain']);
  });
});

describe('fallbacks', () => {
  it('prefer retries in plain after any TLS-side or server refusal, not after a network failure', () => {
    expect(['no-tls', 'tls', 'server', 'network'].map((f) => tryNext('prefer', 'tls', f as 'tls'))).toEqual([true, true, true, false]);
  });

  it('allow retries with TLS only when the server refused the plain connection', () => {
    expect(['no-tls', 'tls', 'server', 'network'].map((f) => tryNext('allow', 'plain', f as 'tls'))).toEqual([false, false, true, false]);
  });

  it('the other modes never fall back', () => {
    for (const m of ['disable', 'require', 'verify-ca', 'verify-full'] as const) {
      for (const f of ['no-tls', 'tls', 'server', 'network'] as const) expect(tryNext(m, m === 'disable' ? 'plain' : 'tls', f)).toBe(false);
    }
  });

  it('reads why an attempt failed from what pg and Node throw', () => {
    expect(attemptFailure(new Error('The server does not support SSL connections'))).toBe('no-tls');
    expect(attemptFailure(Object.assign(new Error('unable to verify the first certificate'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }))).toBe('tls');
    expect(attemptFailure(Object.assign(new Error("Hostname/IP does not match certificate's altnames"), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }))).toBe('tls');
    expect(attemptFailure(Object.assign(new Error('no pg_hba.conf entry'), { code: '28000', severity: 'FATAL' }))).toBe('server');
    expect(attemptFailure(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBe('network');
    expect(attemptFailure('odd')).toBe('network');
  });
});
