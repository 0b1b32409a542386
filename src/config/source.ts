import type { SourceConnection, SourceTls } from '../postgres/index.js';
import type { DatabaseConfig } from './schema.js';
import type { ConnectionConfig } from './schema.js';
import { connectionPassword } from './secrets.js';

/** The TLS settings of a configured connection (paths already absolute). */
export function sourceTls(conn: ConnectionConfig): SourceTls {
  return {
    sslmode: conn.sslmode,
    ...(conn.sslrootcert !== undefined ? { sslrootcert: conn.sslrootcert } : {}),
    ...(conn.sslcert !== undefined ? { sslcert: conn.sslcert } : {}),
    ...(conn.sslkey !== undefined ? { sslkey: conn.sslkey } : {}),
  };
}

/** How to reach a configured database; its password_file is read now. */
export function sourceConnection(db: DatabaseConfig): SourceConnection {
  const c = db.connection;
  const password = connectionPassword(c, `databases[${db.name}].connection.password_file`);
  return { name: db.name, host: c.host, port: c.port, user: c.user, database: c.dbname, tls: sourceTls(c), ...(password !== undefined ? { password } : {}) };
}
