/** Connections to the servers pitrd protects (sources): options, TLS (libpq's sslmode). */
export { connectSource } from './source-client.js';
export type { SourceClientOptions } from './source-client.js';
export { describeSource } from './source.js';
export type { SourceConnection, SourceTls } from './source.js';
export { SSL_MODES, attemptFailure, tlsPlan, tryNext } from './tls-plan.js';
export type { Attempt, AttemptFailure, SslMode, TlsPlan, Verification } from './tls-plan.js';
