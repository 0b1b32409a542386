import type { SslMode } from './tls-plan.js';

/** libpq's TLS parameters of a connection to a source server. File paths are absolute. */
export interface SourceTls {
  sslmode: SslMode;
  /** CA certificate(s) the server's certificate must lead to (PEM). */
  sslrootcert?: string;
  /** Client certificate (PEM) and its private key, for `cert` authentication; both or neither. */
  sslcert?: string;
  sslkey?: string;
}

/** How to reach a server pitrd protects: its replication, base-backup and SQL connections. */
export interface SourceConnection {
  /** pitrd's name of the database; errors name it. */
  name?: string;
  host: string;
  port: number;
  user: string;
  /** Never logged, never passed on a command line. */
  password?: string;
  /** The database an SQL connection opens (a physical replication connection has none). */
  database?: string;
  /** Absent: sslmode prefer, libpq's default. */
  tls?: SourceTls;
  connectTimeoutMs?: number;
}

/** `database "main" (db1:5432)`, or `db1:5432` without a name: how errors name a source. */
export function describeSource(c: Pick<SourceConnection, 'name' | 'host' | 'port'>): string {
  return c.name !== undefined ? `database "${c.name}" (${c.host}:${c.port})` : `${c.host}:${c.port}`;
}
