/**
 * Ordinary (database) SQL connections to a source, beside the replication connections: the
 * receiver's slot queries and the base backup's checks (the role's rights, the size estimate for
 * progress, the server clock at the end).
 */
import type pg from 'pg';
import { PitrdError } from '../errors.js';
import { classifyPgError } from './pg-errors.js';
import { queryRoleRights, queryServerVersionNum } from './server-checks.js';
import { parseSizeSetting } from './settings.js';
import type { SourceConnection } from './source.js';
import { connectSource } from './source-client.js';

/** A source connection (TLS per its sslmode) whose SQL connection opens `database`. */
export type SqlConnectionParams = SourceConnection & { database: string };

/** Run `fn` on a fresh SQL connection (database `postgres` unless one is named), closed afterwards. */
export async function withSqlConnection<T>(opts: SourceConnection & { applicationName?: string }, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  let client: pg.Client;
  try {
    client = await connectSource({ ...opts, database: opts.database ?? 'postgres' }, { applicationName: `${opts.applicationName ?? 'pitrd'}_monitor` });
  } catch (err) {
    throw classifyPgError(err, `${opts.host}:${opts.port}`);
  }
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * The server's server_version_num over a short-lived SQL connection (`timeoutMs` to connect and
 * to answer): what registering a database asks, before anything is stored. Fails with the
 * connection's classified error when the server cannot be asked.
 */
export async function readServerVersionNum(conn: SourceConnection, timeoutMs = 5_000): Promise<number> {
  let client: pg.Client;
  try {
    client = await connectSource({ ...conn, database: conn.database ?? 'postgres', connectTimeoutMs: conn.connectTimeoutMs ?? timeoutMs }, { applicationName: 'pitrd', queryTimeoutMs: timeoutMs });
  } catch (err) {
    throw classifyPgError(err, `${conn.host}:${conn.port}`);
  }
  try {
    return await queryServerVersionNum(client);
  } catch (err) {
    throw classifyPgError(err, `${conn.host}:${conn.port}: server_version_num`);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface ServerFacts {
  serverVersionNum: number;
  /** Sum of the databases' sizes (all tablespaces): the progress estimate. null without the rights to see it. */
  estimatedBytes: number | null;
  walSegmentSize: number;
}

/** The SQL connection a base backup holds open for its whole run. */
export class SqlConnection {
  private constructor(private readonly client: pg.Client) {}

  static async open(conn: SqlConnectionParams, applicationName: string): Promise<SqlConnection> {
    let client: pg.Client;
    try {
      client = await connectSource(conn, { applicationName });
    } catch (err) {
      throw classifyPgError(err, `connection to ${conn.host}:${conn.port}/${conn.database}`);
    }
    return new SqlConnection(client);
  }

  /**
   * Refuse early, with REPLICATION_NOT_PERMITTED, a role that cannot take a base backup: the
   * replication connection would fail too, but only after the server spent a checkpoint on it
   * in some configurations, and its message names the walsender, not the role.
   */
  async facts(user: string): Promise<ServerFacts> {
    try {
      const rights = await queryRoleRights(this.client);
      if (!rights?.replication && !rights?.superuser) {
        throw new PitrdError('REPLICATION_NOT_PERMITTED', `role "${user}" has neither the REPLICATION nor the SUPERUSER attribute; grant it with ALTER ROLE ... REPLICATION`, {
          context: { user },
        });
      }
      let estimatedBytes: number | null = null;
      try {
        const s = await this.client.query<{ total: string | null }>(
          `SELECT sum(pg_database_size(oid))::text AS total FROM pg_database WHERE has_database_privilege(oid, 'CONNECT')`,
        );
        estimatedBytes = s.rows[0]?.total ? Number(s.rows[0].total) : null;
      } catch {
        estimatedBytes = null; // only the progress estimate is lost
      }
      const r = await this.client.query<{ v: string; seg: string }>(`SELECT current_setting('server_version_num') AS v, current_setting('wal_segment_size') AS seg`);
      const row = r.rows[0]!;
      return { serverVersionNum: Number(row.v), estimatedBytes, walSegmentSize: parseSizeSetting(row.seg) };
    } catch (err) {
      throw classifyPgError(err, 'reading server facts');
    }
  }

  /** The server's clock. */
  async now(): Promise<Date> {
    const r = await this.client.query<{ t: Date }>('SELECT clock_timestamp() AS t');
    return new Date(r.rows[0]!.t);
  }

  async close(): Promise<void> {
    await this.client.end().catch(() => undefined);
  }
}
