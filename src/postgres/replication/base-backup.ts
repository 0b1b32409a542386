/**
 * BASE_BACKUP over a physical replication connection: the connection, the command's result sets,
 * and the CopyData path. The command text and the decoding of the answer, which differ between
 * majors (one COPY with typed messages from 15, one COPY per tablespace before), are
 * ./base-backup-wire.ts's; what is done with the bytes (batches, archives into the repository) is
 * ../../basebackup/archive-stream.ts.
 *
 * Why not `pg_basebackup -Ft` via execa: it only writes to stdout (`-D -`) when the cluster has no
 * tablespace other than pg_default/pg_global. With tablespaces it needs `-D <dir>` and refuses a
 * directory that is not empty ("exists but is not empty"), so named pipes cannot be prepared in
 * it; creating them after its emptiness check is a race we would sometimes lose, and losing it
 * means a full local copy. Speaking the command ourselves is what pg_basebackup does with the
 * same protocol, streams every archive straight to the repository, and gives the server's own
 * progress counter. Verified on PostgreSQL 13 to 18.
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
import { baseBackupCommandText, baseBackupDecoder, type BaseBackupCommand, type BaseBackupMessages } from './base-backup-wire.js';
import { identifySystem, type IdentifySystem } from './identify.js';
import { framedSocket } from './socket.js';

type WireEvent = 'copyData' | 'copyOutResponse' | 'rowDescription' | 'dataRow';
/** pg-protocol's parsed messages: copyData has `chunk`, dataRow has `fields` (text or null). */
interface WireMessage {
  chunk?: Buffer;
  fields?: Array<string | null>;
}

/** The parts of pg's internal Connection used here (outside pg's type definitions; pg is pinned). */
interface PgWire {
  on(event: WireEvent, cb: (msg: WireMessage) => void): void;
  removeListener(event: WireEvent, cb: (msg: WireMessage) => void): void;
  stream: { pause(): void; resume(): void; destroy(err?: Error): void };
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

  /**
   * Run BASE_BACKUP in the syntax of `cmd.major`, feeding `messages` (version-neutral); resolves
   * when the server reported the end LSN.
   */
  async run(cmd: BaseBackupCommand, messages: BaseBackupMessages): Promise<BaseBackupResult> {
    let failure: unknown = null;
    const decoder = baseBackupDecoder(cmd.major, messages);
    const guard = (fn: () => void) => {
      if (failure) return;
      try {
        fn();
      } catch (err) {
        failure = err;
        // Stop the stream: the query then fails and the caller cleans up.
        this.wire.stream.destroy(err instanceof Error ? err : new Error(String(err)));
      }
    };
    const onPayload = (buf: Buffer) => guard(() => decoder.copyData(buf));
    // pg parses the frames the reader forwards synchronously and in order, so a CopyOutResponse
    // or a DataRow reaches the decoder before the CopyData that follows it on the wire.
    const listeners: Array<[WireEvent, (msg: WireMessage) => void]> = [
      ['copyData', (msg) => onPayload(msg.chunk!)],
      ['copyOutResponse', () => guard(() => decoder.copyOut())],
      ['rowDescription', () => guard(() => decoder.rowDescription())],
      ['dataRow', (msg) => guard(() => decoder.dataRow(msg.fields ?? []))],
    ];
    // CopyData arrives through the tap (straight from the read buffer) or, on a TLS connection,
    // as pg's 'copyData' events; never both.
    for (const [event, cb] of listeners) this.wire.on(event, cb);
    this.tap.handler = onPayload;
    try {
      let res: pg.QueryResult | pg.QueryResult[];
      try {
        res = (await this.client.query(baseBackupCommandText(cmd))) as pg.QueryResult | pg.QueryResult[];
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
      for (const [event, cb] of listeners) this.wire.removeListener(event, cb);
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
