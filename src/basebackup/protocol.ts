/**
 * BASE_BACKUP over a physical replication connection (PostgreSQL 15 new-style options,
 * TARGET 'client'), demultiplexed into one stream per archive plus the manifest.
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
 */
import net from 'node:net';
import type pg from 'pg';
import type { Writable } from 'node:stream';
import { PitrdError } from '../errors.js';
import { parseLsn } from '../wal/lsn.js';
import type { Lsn } from '../types.js';
import { BlockPool, copyInto } from '../storage/block-pool.js';
import { connectSource } from '../postgres/index.js';
import { classifyPgError, type ConnectionParams } from './pg.js';
import { WholeMessages } from './whole-messages.js';

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

export interface ArchiveSink {
  /**
   * A new archive begins: return where its bytes go. Its chunks are pooled blocks
   * (../storage/block-pool.ts): a consumer that keeps one after passing it on copies it or
   * retains it, and only the last reader releases it.
   */
  archive(name: string, tablespacePath: string | null): Writable;
  /** The manifest begins (its chunks are pooled blocks too). */
  manifest(): Writable;
  /** The server's count of bytes sent so far. */
  progress(bytesDone: number): void;
}

export interface BaseBackupResult {
  startLsn: Lsn;
  startTimeline: number;
  endLsn: Lsn;
  endTimeline: number;
  tablespaces: Array<{ oid: number | null; location: string | null; sizeKb: number | null }>;
}

export interface IdentifiedSystem {
  systemId: string;
  timeline: number;
}

export class BaseBackupConnection {
  private constructor(
    private readonly client: pg.Client,
    private readonly wire: PgWire,
    private readonly tap: CopyDataTap,
  ) {}

  static async open(conn: ConnectionParams, applicationName: string): Promise<BaseBackupConnection> {
    const tap: CopyDataTap = { handler: null };
    let client: pg.Client;
    try {
      client = await connectSource(conn, { applicationName, replication: true, plainSocket: () => reusingSocket(tap) });
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

  async identifySystem(): Promise<IdentifiedSystem> {
    try {
      const res = await this.client.query('IDENTIFY_SYSTEM');
      const row = res.rows[0] as Record<string, unknown> | undefined;
      if (!row) throw new PitrdError('REPLICATION_ERROR', 'IDENTIFY_SYSTEM returned no row', { retryable: true });
      return { systemId: String(row.systemid), timeline: Number(row.timeline) };
    } catch (err) {
      throw classifyPgError(err, 'IDENTIFY_SYSTEM');
    }
  }

  /** Run BASE_BACKUP, feeding `sink`; resolves when the server reported the end LSN. */
  async run(cmd: BaseBackupCommand, sink: ArchiveSink): Promise<BaseBackupResult> {
    let current: Writable | null = null;
    let paused = false;
    // CopyData messages are small (32 kB); batching them into 1 MiB writes cuts the per-chunk
    // cost of every stage downstream (sha256, gzip, encryption, storage). Batches are exactly
    // BATCH_BYTES (but the last of an archive), so the parallel gzip takes each as one member
    // without copying. Batches are pooled blocks (../storage/block-pool.ts): the stage that
    // reads one last gives it back, so the copy out of the socket's buffer lands in warm memory
    // and allocates nothing, and the sha256 thread hashes it in place. A batch is never written
    // to again once handed on, until it comes back.
    const pool = new BlockPool(BATCH_BYTES);
    let batch = pool.take();
    let batchLen = 0;
    const flushBatch = () => {
      if (batchLen === 0 || !current) return;
      const out = pool.handOut(batch, batchLen);
      batch = pool.take();
      batchLen = 0;
      if (!current.write(out) && !paused) {
        paused = true;
        this.wire.stream.pause();
      }
    };
    const resume = () => {
      if (paused) {
        paused = false;
        this.wire.stream.resume();
      }
    };
    const switchTo = (next: Writable | null) => {
      flushBatch();
      if (current) {
        current.removeListener('drain', resume);
        current.end();
      }
      resume();
      current = next;
      if (current) current.on('drain', resume);
    };
    let failure: unknown = null;
    const onData = (msg: { chunk: Buffer }) => {
      if (failure) return;
      try {
        const buf = msg.chunk;
        const kind = String.fromCharCode(buf[0]!);
        if (kind === 'd') {
          if (!current) throw new PitrdError('REPLICATION_ERROR', 'BASE_BACKUP sent data before naming an archive');
          // pg reuses its buffer: copy what is kept beyond this callback.
          let off = 1;
          while (off < buf.length) {
            const n = Math.min(BATCH_BYTES - batchLen, buf.length - off);
            copyInto(batch, batchLen, buf, off, off + n);
            batchLen += n;
            off += n;
            if (batchLen === BATCH_BYTES) flushBatch();
          }
        } else if (kind === 'n') {
          const z1 = buf.indexOf(0, 1);
          const z2 = buf.indexOf(0, z1 + 1);
          const name = buf.subarray(1, z1).toString('utf8');
          const path = buf.subarray(z1 + 1, z2 === -1 ? buf.length : z2).toString('utf8');
          switchTo(sink.archive(name, path === '' ? null : path));
        } else if (kind === 'm') {
          switchTo(sink.manifest());
        } else if (kind === 'p') {
          sink.progress(Number(buf.readBigInt64BE(1)));
        } else {
          throw new PitrdError('REPLICATION_ERROR', `BASE_BACKUP sent an unknown CopyData message type "${kind}"`);
        }
      } catch (err) {
        failure = err;
        // Stop the stream: the query then fails and the caller cleans up.
        this.wire.stream.destroy(err instanceof Error ? err : new Error(String(err)));
      }
    };
    // CopyData arrives through the tap (straight from the read buffer) or, on a TLS connection,
    // as pg's 'copyData' events; never both.
    this.wire.on('copyData', onData);
    this.tap.handler = (payload) => onData({ chunk: payload });
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
      switchTo(null);
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
      // On failure the open archive is ended, not destroyed: its object may then be stored
      // truncated, which the caller deletes, but no stream error can escape a consumer that has
      // not started reading yet. The caller knows it failed (this query rejected).
      const open = current as Writable | null;
      if (open && !open.writableEnded && !open.destroyed) open.end();
    }
  }

  /** Abort a running BASE_BACKUP: the server sees the connection go and ends the backup. */
  abort(reason: Error): void {
    this.wire.stream.destroy(reason);
  }

  async close(): Promise<void> {
    await this.client.end().catch(() => undefined);
  }
}

const BATCH_BYTES = 1024 * 1024;

const READ_BYTES = 256 * 1024;

interface CopyDataTap {
  /** Gets each CopyData payload (a view of the read buffer: copy what is kept). null: pg gets them. */
  handler: ((payload: Buffer) => void) | null;
}

/**
 * A socket that reads into one reused buffer (`onread`) instead of a new one per read: a base
 * backup moves gigabytes, and a fresh 64 kB buffer per read made V8 run a full GC every few
 * dozen MB (external memory pressure), about a third of the CPU the backup cost. pg still gets
 * every byte through the 'data' events it listens to, cut into whole messages (see
 * whole-messages.ts for why that makes reuse safe) and parses them synchronously; except that
 * while BASE_BACKUP runs, CopyData goes straight to its handler (the tap), which copies what it
 * keeps: pg would only have wrapped each 32 kB message in an object and re-emitted it.
 *
 * Only for plain TCP, where this socket is the one pg reads from; a TLS connection runs on pg's
 * own socket (../postgres/source-client.ts).
 */
function reusingSocket(tap: CopyDataTap): net.Socket {
  const buffer = Buffer.allocUnsafe(READ_BYTES);
  let socket: net.Socket | null = null;
  const toPg = (whole: Buffer) => socket!.emit('data', whole);
  const messages = new WholeMessages(toPg, (message) => {
    if (tap.handler) tap.handler(message.subarray(5));
    else toPg(message);
  });
  socket = new net.Socket({
    onread: {
      buffer,
      callback: (n: number) => {
        try {
          messages.push(buffer.subarray(0, n));
        } catch (err) {
          socket!.destroy(err as Error);
          return false;
        }
        return true;
      },
    },
    // `onread` is honoured by the Socket constructor (Node >= 12); @types/node lists it for connect() only.
  } as net.SocketConstructorOpts);
  return socket;
}

function quoteLiteral(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}
