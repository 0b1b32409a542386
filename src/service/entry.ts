import type { Receiver } from '../receiver/index.js';
import type { SourceConnection, SourceTls } from '../postgres/index.js';

/** One protected database, from the configuration file or registered through the API. */
export interface DatabaseEntry {
  project: string;
  name: string;
  source: 'config' | 'api';
  host: string;
  port: number;
  user: string;
  /** Resolved when a connection is opened (config: password or password_file), never shown. */
  password: () => string | undefined;
  dbname: string;
  /** sslmode, and for configured databases the certificate files. */
  tls: SourceTls;
  slotName: string;
  synchronous: boolean;
  pitr: { enabled: boolean; retention_days: number };
  /** Recorded when given at registration (Postbase's region); none for the configuration file's. */
  region?: string | null;
  created_at: string | null;
  receiver: Receiver | null;
  /**
   * The server's PostgreSQL major, null while unknown: read at registration (kept in the
   * registry), else from the repository's database.json once the receiver or a backup reached it.
   */
  major: number | null;
}

export function entryKey(project: string, name: string): string {
  return `${project}/${name}`;
}

/** How every connection of the daemon to the database's server is opened (password read now). */
export function entryConnection(e: DatabaseEntry): SourceConnection {
  const password = e.password();
  return { name: e.name, host: e.host, port: e.port, user: e.user, database: e.dbname, tls: e.tls, ...(password !== undefined ? { password } : {}) };
}
