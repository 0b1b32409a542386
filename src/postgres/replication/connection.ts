/**
 * The one place that touches `pg` internals for physical replication: a `pg.Client` opened with
 * `replication: true` runs replication commands through `client.query`; we answer the CopyBoth
 * stream of START_REPLICATION with `sendCopyFromChunk` / `endCopyFrom`. Without TLS, pg runs on a
 * socket we give it (`stream`, ./socket.ts), which reads into our receive slabs (`onread`): the
 * FrameReader frames the bytes, hands CopyData to us without copies and everything else to pg. None of that is in pg's
 * type definitions, so the shape we rely on is declared here (PgWire) and checked once at
 * connect time; a pg that ignored our socket still streams, through its own `copyData` events.
 * pg is pinned in package.json.
 */
import type pg from 'pg';
import { PitrdError } from '../../errors.js';
import type { Lsn, TimelineId } from '../../types.js';
import { formatLsn, parseLsn } from '../../wal/lsn.js';
import { classifyPgError } from '../pg-errors.js';
import type { SourceConnection } from '../source.js';
import { connectSource } from '../source-client.js';
import { identifySystem, type IdentifySystem } from './identify.js';
import type { SlabHold } from './recv-slabs.js';
import { framedSocket } from './socket.js';

/** A source connection (TLS per its sslmode: ../tls-plan.ts) and the application_name to show. */
export type ReplicationConnectionOptions = SourceConnection & { applicationName?: string };

/** The parts of pg's internal Connection used here. */
interface PgWire {
  on(event: 'copyData', cb: (msg: { chunk: Buffer }) => void): void;
  on(event: 'copyDone', cb: () => void): void;
  removeListener(event: string, cb: (...args: never[]) => void): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  stream: {
    pause(): void;
    resume(): void;
  };
}

export interface SlotPosition {
  restartLsn: Lsn | null;
  restartTimeline: TimelineId | null;
}

/** What the server reported when a timeline it streamed ended. */
export interface TimelineEnd {
  nextTimeline: TimelineId;
  nextStart: Lsn;
}

type Row = Record<string, unknown>;

/** Text, untouched: history file contents are declared bytea but sent raw by the walsender. */
const rawText = { getTypeParser: () => (v: string) => v };

export class ReplicationConnection {
  private closed = false;
  private copyDoneSent = false;
  private readonly closeListeners: Array<(err?: Error) => void> = [];
  /** Receives CopyData payloads framed by the reader while streaming. */
  private copySink: ((payload: Buffer, slab: SlabHold | null) => void) | null = null;

  private constructor(
    private readonly client: pg.Client,
    private readonly wire: PgWire,
  ) {
    client.on('error', (err) => this.emitClose(err));
    client.on('end', () => this.emitClose());
  }

  static async open(opts: ReplicationConnectionOptions): Promise<ReplicationConnection> {
    // A plain connection's socket reads straight into receive slabs (onread) and our reader
    // frames the bytes; pg gets whole frames (copies) through 'data' events, all of them except
    // CopyData while copying. A TLS connection runs on pg's own socket: its CopyData comes as
    // pg's 'copyData' events (one copy per message).
    let conn: ReplicationConnection | null = null;
    const plainSocket = () => framedSocket((payload, slab) => conn?.copySink?.(payload, slab));
    let client: pg.Client;
    try {
      client = await connectSource(opts, { applicationName: opts.applicationName ?? 'pitrd', replication: true, plainSocket });
    } catch (err) {
      throw classifyPgError(err, `${opts.host}:${opts.port}`);
    }
    const wire = (client as unknown as { connection: PgWire }).connection;
    if (typeof wire?.sendCopyFromChunk !== 'function' || typeof wire.endCopyFrom !== 'function') {
      await client.end().catch(() => undefined);
      throw new PitrdError('INTERNAL_ERROR', 'the installed pg client lacks the CopyBoth internals pitrd relies on (pg 8.x pinned)');
    }
    // A pg that did not take our socket still works, through its own 'copyData' events (slower).
    conn = new ReplicationConnection(client, wire);
    return conn;
  }

  private async run(text: string, raw = false): Promise<Row[]> {
    try {
      const res: pg.QueryResult | pg.QueryResult[] = raw ? await this.client.query({ text, types: rawText }) : await this.client.query(text);
      // A command can answer with several results (START_REPLICATION at the end of a timeline:
      // the next-timeline row set, then its own CommandComplete): pg then returns an array.
      const results = Array.isArray(res) ? res : [res];
      return results.flatMap((r) => (r.rows ?? []) as Row[]);
    } catch (err) {
      throw classifyPgError(err, text.split(' ')[0] ?? text);
    }
  }

  identifySystem(): Promise<IdentifySystem> {
    return identifySystem(this.client);
  }

  /** SHOW works on a walsender connection since PostgreSQL 10. */
  async show(name: string): Promise<string> {
    const [row] = await this.run(`SHOW ${name}`);
    return String(row?.[name] ?? '');
  }

  /** Create a physical slot that reserves WAL now; 'exists' when it is already there. */
  async createPhysicalSlot(name: string): Promise<'created' | 'exists'> {
    try {
      await this.run(`CREATE_REPLICATION_SLOT ${quoteIdent(name)} PHYSICAL RESERVE_WAL`);
      return 'created';
    } catch (err) {
      if (err instanceof PitrdError && err.context.sqlstate === '42710') return 'exists';
      throw err;
    }
  }

  /** READ_REPLICATION_SLOT (PostgreSQL 15+): null when the slot does not exist. */
  async readSlot(name: string): Promise<SlotPosition | null> {
    const [row] = await this.run(`READ_REPLICATION_SLOT ${quoteIdent(name)}`);
    if (!row || row.slot_type === null || row.slot_type === undefined) return null;
    return {
      restartLsn: row.restart_lsn ? parseLsn(String(row.restart_lsn)) : null,
      restartTimeline: row.restart_tli === null || row.restart_tli === undefined ? null : Number(row.restart_tli),
    };
  }

  async timelineHistory(timeline: TimelineId): Promise<{ filename: string; content: Buffer }> {
    const [row] = await this.run(`TIMELINE_HISTORY ${timeline}`, true);
    if (!row) throw new PitrdError('REPLICATION_ERROR', `TIMELINE_HISTORY ${timeline} returned no row`, { retryable: true });
    return { filename: String(row.filename), content: Buffer.from(String(row.content), 'utf8') };
  }

  /**
   * START_REPLICATION and pump the CopyBoth stream into `onMessage` (called synchronously per
   * CopyData). The buffer is reused afterwards: keep it only by retaining `slab` (released once
   * done with it), or copy it when `slab` is null (pg's own buffer). Resolves when the
   * stream ends: with the next timeline when the server ended this one, null when we ended it.
   */
  async stream(slot: string | null, start: Lsn, timeline: TimelineId, onMessage: (buf: Buffer, slab: SlabHold | null) => void): Promise<TimelineEnd | null> {
    const onData = (msg: { chunk: Buffer }) => onMessage(msg.chunk, null);
    this.copySink = onMessage;
    // The server ended the copy (end of timeline): answer with our CopyDone so it can report the next one.
    const onCopyDone = () => this.endCopy();
    this.copyDoneSent = false;
    this.wire.on('copyData', onData);
    this.wire.on('copyDone', onCopyDone);
    try {
      const slotPart = slot ? `SLOT ${quoteIdent(slot)} ` : '';
      const rows = await this.run(`START_REPLICATION ${slotPart}PHYSICAL ${formatLsn(start)} TIMELINE ${timeline}`);
      const row = rows[0];
      if (!row) return null;
      return { nextTimeline: Number(row.next_tli), nextStart: parseLsn(String(row.next_tli_startpos)) };
    } finally {
      this.copySink = null;
      this.wire.removeListener('copyData', onData as (...args: never[]) => void);
      this.wire.removeListener('copyDone', onCopyDone as (...args: never[]) => void);
    }
  }

  sendCopyData(buf: Buffer): void {
    if (!this.closed && !this.copyDoneSent) this.wire.sendCopyFromChunk(buf);
  }

  /** Ask the server to end the copy; `stream()` then resolves. */
  endCopy(): void {
    if (this.closed || this.copyDoneSent) return;
    this.copyDoneSent = true;
    this.wire.endCopyFrom();
  }

  /** Stop reading the socket (backpressure when the disk is slower than the network). */
  pause(): void {
    this.wire.stream.pause();
  }

  resume(): void {
    this.wire.stream.resume();
  }

  onClose(cb: (err?: Error) => void): void {
    this.closeListeners.push(cb);
  }

  private emitClose(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    for (const cb of this.closeListeners) cb(err);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.client.end().catch(() => undefined);
  }
}

function quoteIdent(name: string): string {
  return '"' + name.replace(/"/g, '""') + '"';
}
