/**
 * The ordinary SQL connection a base backup uses beside its replication connection: it checks
 * that the database and the role's rights exist before anything is written to the repository,
 * estimates the size for progress, and reads the server clock at the end.
 */
import type pg from 'pg';
import { PitrdError, errorMessage, type ErrorCode } from '../errors.js';
import { connectSource, type SourceConnection } from '../postgres/index.js';

/** A source connection (TLS per its sslmode: ../postgres); the SQL connection opens `database`. */
export type ConnectionParams = SourceConnection & { database: string };

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH']);

/** Map what pg throws to our codes. */
export function classifyPgError(err: unknown, what: string): PitrdError {
  if (err instanceof PitrdError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as { code?: string };
  const code = typeof e.code === 'string' ? e.code : undefined;
  const msg = errorMessage(err);
  const mk = (c: ErrorCode, text: string, retryable: boolean) => new PitrdError(c, `${what}: ${text}`, { cause: err, retryable, context: { sqlstate: code, server_message: msg } });
  if (code === '28P01') return mk('POSTGRES_AUTH_FAILED', `authentication failed (${msg})`, false);
  if (code === '28000') return mk('REPLICATION_NOT_PERMITTED', `connection not authorized (${msg})`, false);
  if (code === '42501') return mk('REPLICATION_NOT_PERMITTED', `the role lacks the REPLICATION attribute (${msg})`, false);
  if (code === '3D000') return mk('POSTGRES_DATABASE_NOT_FOUND', `database does not exist (${msg})`, false);
  if (code === '53300') return mk('REPLICATION_ERROR', `no connection slot free (${msg})`, true);
  if (code === '55000') return mk('REPLICATION_NOT_PERMITTED', `the server is not configured for base backups (${msg})`, false);
  if (code !== undefined && NETWORK_CODES.has(code)) return mk('POSTGRES_UNREACHABLE', `cannot reach the server (${msg})`, true);
  if (/Connection terminated|timeout expired|ECONNREFUSED|socket/i.test(msg)) return mk('POSTGRES_UNREACHABLE', msg, true);
  return mk('REPLICATION_ERROR', msg, true);
}

export interface ServerFacts {
  serverVersionNum: number;
  /** Sum of the databases' sizes (all tablespaces): the progress estimate. null without the rights to see it. */
  estimatedBytes: number | null;
  walSegmentSize: number;
}

export class SqlConnection {
  private constructor(private readonly client: pg.Client) {}

  static async open(conn: ConnectionParams, applicationName: string): Promise<SqlConnection> {
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
      const r = await this.client.query<{ v: string; can: boolean | null; seg: string }>(
        `SELECT current_setting('server_version_num') AS v,
                (SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user) AS can,
                current_setting('wal_segment_size') AS seg`,
      );
      const row = r.rows[0]!;
      if (row.can !== true) {
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
      return { serverVersionNum: Number(row.v), estimatedBytes, walSegmentSize: parseSize(row.seg) };
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

/** "16MB", "1MB", "1GB" → bytes (SHOW's unit form). */
export function parseSize(text: string): number {
  const m = /^(\d+)\s*(B|kB|MB|GB)?$/.exec(text.trim());
  if (!m) throw new PitrdError('REPLICATION_ERROR', `cannot read wal_segment_size "${text}"`);
  const unit = { B: 1, kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 }[(m[2] ?? 'B') as 'B' | 'kB' | 'MB' | 'GB'];
  return Number(m[1]) * unit;
}
