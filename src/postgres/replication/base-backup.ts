/**
 * BASE_BACKUP over a physical replication connection (PostgreSQL 15 new-style options,
 * TARGET 'client'): the command and its messages. What is done with the bytes (batches, archives
 * into the repository) is ../../basebackup/archive-stream.ts.
 *
 * Why not `pg_basebackup -Ft` via execa: it only writes to stdout (`-D -`) when the cluster has no
 * tablespace other than pg_default/pg_global. With tablespaces it needs `-D <dir>` and refuses a
 * directory that is not empty ("exists but is not empty"), so named pipes cannot be prepared in
 * it; creating them after its emptiness check is a race we would sometimes lose, and losing it
 * means a full local copy. Speaking the command ourselves is what pg_basebackup does with the
 * same protocol, streams every archive straight to the repository, and gives the server's own
 * progress counter. Verified on PostgreSQL 15.
 *
 * The wire (src/backend/backup/basebackup_copy.c): a row (start LSN, timeline), a row set of
 * tablespaces (oid, location, size in kB), CopyOutResponse, then CopyData messages: 'n' a new
 * archive (name, tablespace path), 'd' data, 'p' progress (int64 bytes sent), 'm' the manifest
 * starts (its bytes follow as 'd'); CopyDone; a row (end LSN, timeline).
 *
 * On a plain connection the socket reads into receive slabs and the FrameReader hands CopyData
 * over as views (./socket.ts): a base backup moves gigabytes, and a fresh 64 kB buffer per read
 * made V8 run a full GC every few dozen MB, about a third of the CPU the backup cost. A TLS
 * connection runs on pg's own socket: CopyData then comes as pg's 'copyData' events.
 */
import type pg from 'pg';
import { PitrdError } from '../../errors.js';
import type { Lsn } from '../../types.js';
import { parseLsn } from '../../wal/lsn.js';
import { classifyPgError } from '../pg-errors.js';
import type { SqlConnectionParams } from '../sql-connection.js';
import { connectSource } from '../source-client.js';
import { identifySystem, type IdentifySystem } from './identify.js';
import { framedSocket } from './socket.js';

/** The parts of pg's internal Connection used here (outside pg's type definitions; pg is pinned). */
interface PgWire {
  on(event: 'copyData', cb: (msg: { chunk: Buffer }) => void): void;
  removeListener(event: 'copyData', cb: (msg: { chunk: Buffer }) => void): void;
  stream: { pause(): void; resume(): void; destroy(err?: Error): void };
}

export interface BaseBackupCommand {
  label: string;
  /** CHECKPOINT 'fast': start now instead of waiting for the next spread checkpoint. */
  fastCheckpoint: boolean;
  /** WAL true: the WAL from start to stop goes into base.tar's pg_wal/ (pg_basebackup -X fetch). */
  includeWal: boolean;
}

/** The CopyData messages of BASE_BACKUP, decoded, in stream order. A throw stops the backup. */
export interface BaseBackupMessages {
  /** 'n': a new archive begins (tablespacePath null: the main data directory). */
  archive(name: string, tablespacePath: string | null): void;
  /** 'm': the manifest begins; its bytes follow as data. */
  manifest(): void;
  /** 'd': bytes of the current archive or manifest: a view of the read buffer, copy what is kept. */
  data(bytes: Buffer): void;
  /** 'p': the server's count of bytes sent so far. */
  progress(bytesDone: number): void;
}

export interface BaseBackupResult {
  startLsn: Lsn;
  startTimeline: number;
  endLsn: Lsn;
  endTimeline: number;
  tablespaces: Array<{ oid: number | null; location: string | null; sizeKb: number | null }>;
}

export class BaseBackupConnection {
  private constructor(
    private readonly client: pg.Client,
    private readonly wire: PgWire,
    private readonly tap: CopyDataTap,
  ) {}

  static async open(conn: SqlConnectionParams, applicationName: string): Promise<BaseBackupConnection> {
    const tap: CopyDataTap = { handler: null };
    let client: pg.Client;
    try {
      client = await connectSource(conn, { applicationName, replication: true, plainSocket: () => framedSocket((payload) => tap.handler?.(payload)) });
    } catch (err) {
      throw classifyPgError(err, `replication connection to ${conn.host}:${conn.port}`);
    }
    const wire = (client as unknown as { connection?: PgWire }).connection;
    if (!wire || typeof wire.on !== 'function' || !wire.stream) {
      await client.end().catch(() => undefined);
      throw new PitrdError('INTERNAL_ERROR', 'the installed pg client lacks the CopyData internals pitrd relies on (pg 8.x pinned)');
    }
    return new BaseBackupConnection(client, wire, tap);
  }

  identifySystem(): Promise<IdentifySystem> {
    return identifySystem(this.client);
  }

  /** Run BASE_BACKUP, feeding `messages`; resolves when the server reported the end LSN. */
  async run(cmd: BaseBackupCommand, messages: BaseBackupMessages): Promise<BaseBackupResult> {
    let failure: unknown = null;
    let named = false;
    const onPayload = (buf: Buffer) => {
      if (failure) return;
      try {
        const kind = buf[0];
        if (kind === 0x64 /* 'd' */) {
          if (!named) throw new PitrdError('REPLICATION_ERROR', 'BASE_BACKUP sent data before naming an archive');
          messages.data(buf.subarray(1));
        } else if (kind === 0x6e /* 'n' */) {
          const z1 = buf.indexOf(0, 1);
          const z2 = buf.indexOf(0, z1 + 1);
          const name = buf.subarray(1, z1).toString('utf8');
          const path = buf.subarray(z1 + 1, z2 === -1 ? buf.length : z2).toString('utf8');
          named = true;
          messages.archive(name, path === '' ? null : path);
        } else if (kind === 0x6d /* 'm' */) {
          named = true;
          messages.manifest();
        } else if (kind === 0x70 /* 'p' */) {
          messages.progress(Number(buf.readBigInt64BE(1)));
        } else {
          throw new PitrdError('REPLICATION_ERROR', `BASE_BACKUP sent an unknown CopyData message type "${String.fromCharCode(kind ?? 0)}"`);
        }
      } catch (err) {
        failure = err;
        // Stop the stream: the query then fails and the caller cleans up.
        this.wire.stream.destroy(err instanceof Error ? err : new Error(String(err)));
      }
    };
    const onData = (msg: { chunk: Buffer }) => onPayload(msg.chunk);
    // CopyData arrives through the tap (straight from the read buffer) or, on a TLS connection,
    // as pg's 'copyData' events; never both.
    this.wire.on('copyData', onData);
    this.tap.handler = onPayload;
    try {
      const opts = [
        `LABEL ${quoteLiteral(cmd.label)}`,
        'PROGRESS',
        `CHECKPOINT '${cmd.fastCheckpoint ? 'fast' : 'spread'}'`,
        `WAL ${cmd.includeWal}`,
        // WAIT false: with WAL fetched into the tar, or with pitrd's own archive check, waiting
        // for the server's archive_command (usually not configured) would only hang.
        'WAIT false',
        "MANIFEST 'yes'",
        "MANIFEST_CHECKSUMS 'CRC32C'",
        "TARGET 'client'",
      ];
      let res: pg.QueryResult | pg.QueryResult[];
      try {
        res = (await this.client.query(`BASE_BACKUP (${opts.join(', ')})`)) as pg.QueryResult | pg.QueryResult[];
      } catch (err) {
        throw failure ?? classifyPgError(err, 'BASE_BACKUP');
      }
      if (failure) throw failure;
      const results = Array.isArray(res) ? res : [res];
      const withRows = results.filter((r) => r.fields && r.fields.length > 0);
      const first = withRows[0]?.rows[0] as Record<string, unknown> | undefined;
      const last = withRows[withRows.length - 1]?.rows[0] as Record<string, unknown> | undefined;
      if (withRows.length < 3 || !first || !last) {
        throw new PitrdError('REPLICATION_ERROR', `BASE_BACKUP answered with ${withRows.length} result sets, expected 3 (start, tablespaces, end)`);
      }
      const tablespaces = (withRows[1]!.rows as Array<Record<string, unknown>>).map((r) => ({
        oid: r.spcoid === null || r.spcoid === undefined ? null : Number(r.spcoid),
        location: r.spclocation === null || r.spclocation === undefined ? null : String(r.spclocation),
        sizeKb: r.size === null || r.size === undefined ? null : Number(r.size),
      }));
      return {
        startLsn: parseLsn(String(first.recptr)),
        startTimeline: Number(first.tli),
        endLsn: parseLsn(String(last.recptr)),
        endTimeline: Number(last.tli),
        tablespaces,
      };
    } finally {
      this.wire.removeListener('copyData', onData);
      this.tap.handler = null;
    }
  }

  /** Stop reading the socket (backpressure: the repository is slower than the server). */
  pause(): void {
    this.wire.stream.pause();
  }

  resume(): void {
    this.wire.stream.resume();
  }

  /** Abort a running BASE_BACKUP: the server sees the connection go and ends the backup. */
  abort(reason: Error): void {
    this.wire.stream.destroy(reason);
  }

  async close(): Promise<void> {
    await this.client.end().catch(() => undefined);
  }
}

interface CopyDataTap {
  /** Gets each CopyData payload (a view of the read buffer: copy what is kept). */
  handler: ((payload: Buffer) => void) | null;
}

function quoteLiteral(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}
