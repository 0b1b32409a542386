/**
 * One replication connection from connect to disconnect: identify the server, make sure of the
 * slot, pick the start point, then stream timeline after timeline into the spool. Anything that
 * goes wrong ends the session with a PitrdError; the supervisor decides when to try again.
 */
import { crashPoint, flushTrace } from '../crash/index.js';
import { PitrdError, errorMessage } from '../errors.js';
import { ReplicationConnection, assertSupportedVersion, decodeMessage, encodeStatusUpdate, hasReadReplicationSlot, parseSizeSetting, querySlotPosition, withSqlConnection, type ReplicationConnectionOptions, type SlabHold, type SlotPosition } from '../postgres/index.js';
import type { Lsn, TimelineId } from '../types.js';
import { formatLsn } from '../wal/lsn.js';
import { historyFileName } from '../wal/segment.js';
import type { Logger } from './logger.js';
import { SegmentWriter } from './segment-writer.js';
import { checkSpoolIdentity, removeDurable, scanSpool, writeFileDurable } from './spool.js';
import { chooseStartPoint, floorToSegment, startInvariantViolation, type NamedSegment, type PartialSegment, type StartPoint, type StartPointInput } from './start-point.js';

export interface ServerIdentity {
  systemId: string;
  timeline: TimelineId;
  segSize: number;
  pgVersion: number;
}

/** The receiver's settings a session runs with, fixed for the receiver's life. */
export interface SessionSettings {
  readonly connection: ReplicationConnectionOptions;
  readonly spoolDir: string;
  readonly slotName: string;
  readonly statusIntervalMs: number;
  readonly maxPendingBytes: number;
  readonly fsyncIntervalMs: number;
  readonly logger: Logger;
}

/** What a session needs from the receiver that owns it. */
export interface SessionHost extends SessionSettings {
  /** Called once the server is known: checks identities, starts the uploader. */
  serverIdentified(id: ServerIdentity): Promise<void>;
  archiveLast(): Promise<NamedSegment | null>;
  /** Whether the archive holds this complete segment; null when the archive could not be asked. */
  archiveHas(timeline: TimelineId, name: string): Promise<boolean | null>;
  historySpooled(timeline: TimelineId, bytes: number): void;
  hasHistory(timeline: TimelineId): boolean;
  /** `sha256`: of the segment's bytes, as the writer wrote them (null: the uploader hashes the file). */
  segmentComplete(timeline: TimelineId, name: string, endLsn: Lsn, sha256: string | null): void;
  streaming(start: StartPoint): void;
  progress(p: { received: Lsn; flushed: Lsn; serverWalEnd: Lsn; bytes: number; timeline: TimelineId }): void;
  slotMaintenance(): void;
}

export class Session {
  private conn: ReplicationConnection | null = null;
  private writer: SegmentWriter | null = null;
  private stopping = false;
  private failure: PitrdError | null = null;
  private paused = false;
  private serverWalEnd: Lsn = 0n;
  private bytes = 0;
  private timeline: TimelineId = 0;
  private statusTimer: NodeJS.Timeout | null = null;
  /** True once WAL arrived (the supervisor then resets its backoff: this connection worked). */
  streamed = false;

  constructor(private readonly host: SessionHost) {}

  async run(): Promise<void> {
    const h = this.host;
    const conn = await ReplicationConnection.open(h.connection);
    this.conn = conn;
    try {
      if (this.stopping) return;
      const ident = await conn.identifySystem();
      const segSize = parseSizeSetting(await conn.show('wal_segment_size'));
      const pgVersion = Number(await conn.show('server_version_num'));
      const major = assertSupportedVersion(pgVersion, `the source server (slot ${h.slotName})`);
      const id: ServerIdentity = { systemId: ident.systemId, timeline: ident.timeline, segSize, pgVersion };
      await checkSpoolIdentity(h.spoolDir, { system_identifier: id.systemId, wal_segment_size: segSize });
      await h.serverIdentified(id);

      // Before 15 there is no READ_REPLICATION_SLOT: pg_replication_slots over a SQL connection
      // (no restart timeline there: the start point then takes the server's).
      const readSlot = (name: string): Promise<SlotPosition | null> =>
        hasReadReplicationSlot(major) ? conn.readSlot(name) : withSqlConnection(h.connection, (c) => querySlotPosition(c, name));
      let slot = await readSlot(h.slotName);
      if (slot === null) {
        await conn.createPhysicalSlot(h.slotName);
        h.logger.info({ slot: h.slotName }, 'created physical replication slot');
        slot = await readSlot(h.slotName);
      }
      const start = await this.startPoint(segSize, slot, { timeline: ident.timeline, xlogpos: ident.xlogpos });
      for (let tli = 2; tli <= ident.timeline; tli++) await this.fetchHistory(tli);

      let tli = start.timeline;
      let pos = start.lsn;
      h.streaming(start);
      h.logger.info({ lsn: formatLsn(pos), timeline: tli, source: start.source }, 'starting replication');
      this.statusTimer = setInterval(() => {
        this.sendStatus(false);
        h.slotMaintenance();
      }, h.statusIntervalMs);
      while (!this.stopping) {
        const writer = new SegmentWriter({
          dir: h.spoolDir,
          segSize,
          onSegmentComplete: (t, name, end, sha256) => h.segmentComplete(t, name, end, sha256),
          onFlushed: () => {
            this.report();
            this.sendStatus(false);
          },
          onDrained: () => this.drained(),
          fsyncIntervalMs: h.fsyncIntervalMs,
        });
        writer.begin(tli, pos);
        this.writer = writer;
        this.timeline = tli;
        let end;
        try {
          end = await conn.stream(h.slotName, pos, tli, (buf, slab) => this.onCopyData(buf, slab));
        } catch (err) {
          throw this.failure ?? err;
        }
        if (this.failure) throw this.failure;
        await writer.close(end !== null);
        this.report();
        if (end === null) break;
        h.logger.info({ timeline: tli, next_timeline: end.nextTimeline, next_start: formatLsn(end.nextStart) }, 'end of timeline; following the server');
        await this.fetchHistory(end.nextTimeline);
        tli = end.nextTimeline;
        pos = floorToSegment(end.nextStart, segSize);
      }
    } finally {
      if (this.statusTimer) clearInterval(this.statusTimer);
      await this.writer?.close().catch(() => undefined);
      this.report();
      await conn.close();
    }
  }

  /**
   * The start point (start-point.ts), with the start invariant checked before anything is
   * streamed, a lost range reported loudly, and superseded partial files removed.
   */
  private async startPoint(segSize: number, slot: StartPointInput['slot'], server: StartPointInput['server']): Promise<StartPoint> {
    const h = this.host;
    const spool = await scanSpool(h.spoolDir);
    const complete = new Set(spool.complete.map((s) => s.name));
    // A partial is never trusted; whether the archive holds its segment decides between stale and hole.
    const partials: PartialSegment[] = [];
    for (const p of spool.partials) partials.push({ ...p, archived: complete.has(p.name) ? false : await h.archiveHas(p.timeline, p.name) });
    const input: StartPointInput = { segSize, archiveLast: await h.archiveLast(), spoolComplete: spool.complete, spoolPartials: partials, slot, server };
    const start = chooseStartPoint(input);
    const violation = startInvariantViolation(input, start);
    if (violation !== null) {
      throw new PitrdError('INTERNAL_ERROR', `refusing to start replication: ${violation}`, { context: { spool: h.spoolDir, slot: h.slotName } });
    }
    for (const g of start.gaps ?? (start.gap ? [start.gap] : [])) {
      h.logger.error(
        { from: formatLsn(g.from), to: formatLsn(g.to), slot: h.slotName, spool: h.spoolDir },
        'WAL LOST: this WAL was never archived nor made durable in the spool, and the server no longer has it (the slot is past it); no restore can cross this range',
      );
    }
    for (const f of start.stalePartials ?? []) {
      await removeDurable(h.spoolDir, f);
      h.logger.info({ file: f }, 'removed a stale partial segment: a complete copy supersedes it');
    }
    return start;
  }

  private async fetchHistory(tli: TimelineId): Promise<void> {
    if (tli < 2 || this.host.hasHistory(tli)) return;
    const { content } = await this.conn!.timelineHistory(tli);
    await writeFileDurable(this.host.spoolDir, historyFileName(tli), content);
    this.host.historySpooled(tli, content.length);
  }

  private onCopyData(buf: Buffer, slab: SlabHold | null): void {
    if (this.failure) return;
    try {
      const msg = decodeMessage(buf);
      if (msg.walEnd > this.serverWalEnd) this.serverWalEnd = msg.walEnd;
      if (msg.kind === 'xlogdata') {
        this.writer!.append(msg.walStart, msg.data, slab);
        this.bytes += msg.data.length;
        this.streamed = true;
        if (!this.paused && this.writer!.pending > this.host.maxPendingBytes) {
          this.paused = true;
          this.conn!.pause();
        }
      } else {
        // Keepalives carry the server's WAL end: keeps lag_seconds honest while nothing flows.
        this.report();
        if (msg.replyRequested) this.sendStatus(false);
      }
    } catch (err) {
      this.fail(err);
    }
  }

  private drained(): void {
    const w = this.writer;
    if (w?.error) return this.fail(w.error);
    if (this.paused && (w?.pending ?? 0) < this.host.maxPendingBytes / 2) {
      this.paused = false;
      this.conn?.resume();
    }
  }

  private fail(err: unknown): void {
    if (this.failure) return;
    this.failure = err instanceof PitrdError ? err : new PitrdError('REPLICATION_ERROR', errorMessage(err), { cause: err, retryable: true });
    // Ending the connection makes stream() reject; run() then rethrows this failure.
    void this.conn?.close();
  }

  private report(): void {
    const w = this.writer;
    if (!w) return;
    this.host.progress({ received: w.receivedLsn, flushed: w.flushedLsn, serverWalEnd: this.serverWalEnd, bytes: this.bytes, timeline: this.timeline });
    this.bytes = 0;
  }

  private sendStatus(replyRequested: boolean): void {
    const w = this.writer;
    if (!w || !this.conn) return;
    try {
      const flush = w.flushedLsn;
      crashPoint('receiver.before-feedback');
      flushTrace('confirm', flush);
      this.conn.sendCopyData(encodeStatusUpdate({ write: w.receivedLsn, flush, nowMs: Date.now(), replyRequested }));
      crashPoint('receiver.after-feedback');
    } catch (err) {
      this.fail(err);
    }
  }

  /** Flush, tell the server how far we got, then end the copy so run() returns. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const w = this.writer;
    if (w && this.conn) {
      await w.flush().catch(() => undefined);
      this.sendStatus(false);
      this.conn.endCopy();
      // A walsender that does not answer our CopyDone is cut off.
      setTimeout(() => void this.conn?.close(), 5000).unref();
    } else {
      await this.conn?.close();
    }
  }
}
