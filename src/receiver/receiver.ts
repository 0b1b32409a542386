/**
 * The supervisor: runs sessions one after another, reconnecting with capped exponential backoff
 * after transient failures and slowly after permanent ones (wrong password, no permission, wrong
 * server), so a broken configuration never becomes a tight crash loop. Owns the uploader, which
 * outlives sessions, and the status object.
 */
import { PitrdError, errorMessage, isPitrdError, isStorageUnreachable, loggedError } from '../errors.js';
import type { DatabaseInfo, WalArchive } from '../repository/types.js';
import type { Lsn, TimelineId } from '../types.js';
import { formatLsn } from '../wal/lsn.js';
import { backoffDelay, cancellableSleep, type BackoffPolicy } from './backoff.js';
import { silentLogger, type Logger } from './logger.js';
import { defaultSlotName, majorOf, querySlotState, withSqlConnection, type ReplicationConnectionOptions } from '../postgres/index.js';
import { Session, type ServerIdentity, type SessionHost, type SessionSettings } from './session.js';
import { ensureSpoolDir } from './spool.js';
import type { NamedSegment, StartPoint } from './start-point.js';
import { initialStatus, type ReceiverStatus, type SlotState } from './status.js';
import { Uploader, type UploaderState } from './uploader.js';
import { readVerifiedIdentity, saveVerifiedIdentity } from './verified-identity.js';

/** The part of a repository database handle the receiver uses. */
export interface ReceiverRepository {
  wal: WalArchive;
  info(): Promise<DatabaseInfo | null>;
  /** Records the server; may itself refuse a different system identifier (SYSTEM_ID_MISMATCH). */
  saveInfo(input: Omit<DatabaseInfo, 'name' | 'created_at' | 'updated_at'>): Promise<unknown>;
  /** Re-reads repo.json: still the repository the handle was opened on (REPO_INVALID if not). */
  confirm?(): Promise<void>;
}

export interface ReceiverOptions {
  /** Database name in the repository (and the default slot name's suffix). */
  database: string;
  project?: string;
  connection: ReplicationConnectionOptions;
  repository: ReceiverRepository;
  spoolDir: string;
  slotName?: string;
  /** Act as a synchronous standby: application_name (default: the slot name) is set and every fsync is reported at once. */
  synchronous?: boolean;
  statusIntervalMs?: number;
  reconnectBackoff?: BackoffPolicy;
  /** Pause between attempts after a permanent error (bad password, no permission…). */
  permanentErrorRetryMs?: number;
  uploadBackoff?: BackoffPolicy;
  /** Unwritten bytes held in memory before the socket is paused (default 8 MiB). */
  maxPendingBytes?: number;
  /**
   * Minimum time between fsyncs of the partial segment when not synchronous (default 200 ms):
   * the flush position reported lags by at most about this much. Synchronous mode fsyncs at once.
   */
  fsyncIntervalMs?: number;
  /** While catching up, uploads wait until this much is spooled (default 256 MiB). */
  maxDeferredUploadBytes?: number;
  /**
   * Bytes the spool may hold (segments waiting for upload + the partial one). When a completed
   * segment leaves no room for another, the session ends (nothing more is confirmed: the slot
   * keeps the WAL on the server), the status is `spool_full`, and streaming resumes once uploads
   * have freed room for a segment. Absent: the disk is the limit (ENOSPC is SPOOL_FULL too).
   */
  maxSpoolBytes?: number;
  /** Timeout for asking the repository for its last segment at start. */
  archiveLookupTimeoutMs?: number;
  logger?: Logger;
}

export interface Receiver {
  start(): Promise<void>;
  /** Flush, report the flush position, stop uploading; returns the final status. */
  stop(): Promise<ReceiverStatus>;
  /** End the current session cleanly and start a new one. */
  restart(): Promise<void>;
  status(): ReceiverStatus;
  /** Current slot state, read now. */
  slotState(): Promise<SlotState | null>;
  /** Retry uploads now (e.g. storage is back). */
  retryUploads(): void;
  readonly slotName: string;
  /** The spool directory (a `latest` restore on this host also replays its partial segment). */
  readonly spoolDir: string;
}

export function createReceiver(opts: ReceiverOptions): Receiver {
  return new ReceiverImpl(opts);
}

/** The options with their defaults: what every session of this receiver runs with. */
function receiverSettings(opts: ReceiverOptions): SessionSettings {
  const slotName = opts.slotName ?? defaultSlotName(opts.database);
  return {
    slotName,
    spoolDir: opts.spoolDir,
    statusIntervalMs: opts.statusIntervalMs ?? 10_000,
    maxPendingBytes: opts.maxPendingBytes ?? 8 * 1024 * 1024,
    fsyncIntervalMs: opts.synchronous ? 0 : (opts.fsyncIntervalMs ?? 200),
    logger: opts.logger ?? silentLogger,
    connection: { ...opts.connection, applicationName: opts.connection.applicationName ?? (opts.synchronous ? slotName : 'pitrd') },
  };
}

// The settings are declared once, in SessionSettings, and set by the constructor
// (receiverSettings): the class declares no field of its own for them.
interface ReceiverImpl extends SessionSettings {}
class ReceiverImpl implements Receiver, SessionHost {
  private readonly st: ReceiverStatus = initialStatus();
  private uploader: Uploader | null = null;
  /** The uploader's last state once stopped, so the final status still shows it. */
  private finalUpload: UploaderState | null = null;
  private identity: ServerIdentity | null = null;
  private repoVerified = false;
  private readonly histories = new Set<TimelineId>();
  private session: Session | null = null;
  private loop: Promise<void> | null = null;
  private stopping = false;
  private sleeper: { cancel(): void } | null = null;
  private received: Lsn = 0n;
  private flushed: Lsn = 0n;
  private serverWalEnd: Lsn = 0n;
  private caughtUpAt = Date.now();
  private slotQuery: Promise<void> | null = null;

  constructor(private readonly opts: ReceiverOptions) {
    Object.assign(this, receiverSettings(opts));
  }

  async start(): Promise<void> {
    if (this.loop) return;
    await ensureSpoolDir(this.spoolDir);
    this.stopping = false;
    this.st.status = 'starting';
    this.st.started_at = new Date().toISOString();
    this.st.attempts = 0;
    this.loop = this.supervise();
  }

  private async supervise(): Promise<void> {
    let attempt = 0;
    while (!this.stopping) {
      if (this.spoolFull()) {
        await this.waitForSpoolRoom();
        continue;
      }
      this.st.attempts++;
      const session = new Session(this);
      this.session = session;
      let delay = 0;
      try {
        await session.run();
        attempt = 0;
      } catch (err) {
        if (this.stopping) break;
        const e = isPitrdError(err) ? err : new PitrdError('REPLICATION_ERROR', errorMessage(err), { cause: err, retryable: true });
        this.st.errors++;
        this.st.last_error = { code: e.code, message: e.message, at: new Date().toISOString() };
        if (session.streamed) attempt = 0;
        if (e.retryable) {
          this.st.status = 'reconnecting';
          delay = backoffDelay(attempt++, this.opts.reconnectBackoff ?? { initialMs: 500, maxMs: 30_000 });
          this.logger.warn({ err: loggedError(e), retry_in_ms: delay }, 'replication session ended; reconnecting');
        } else {
          this.st.status = 'error';
          delay = this.opts.permanentErrorRetryMs ?? 60_000;
          this.logger.error({ err: loggedError(e), retry_in_ms: delay }, 'replication cannot run until this is fixed');
        }
      } finally {
        this.session = null;
      }
      if (this.stopping) break;
      if (delay > 0) {
        const s = cancellableSleep(delay);
        this.sleeper = s;
        await s.done;
        this.sleeper = null;
      }
    }
  }

  async stop(): Promise<ReceiverStatus> {
    this.stopping = true;
    this.sleeper?.cancel();
    await this.session?.stop();
    await this.loop;
    this.loop = null;
    await this.uploader?.stop();
    this.finalUpload = this.uploader?.state() ?? this.finalUpload;
    this.uploader = null;
    this.st.status = 'stopped';
    return this.status();
  }

  async restart(): Promise<void> {
    // Ending the session makes the supervisor start a new one at once.
    await this.session?.stop();
    this.sleeper?.cancel();
  }

  retryUploads(): void {
    this.uploader?.poke();
  }

  status(): ReceiverStatus {
    const up = this.uploader?.state() ?? this.finalUpload;
    const lag = this.flushed >= this.serverWalEnd ? 0 : (Date.now() - this.caughtUpAt) / 1000;
    return {
      ...this.st,
      last_received_lsn: this.received ? formatLsn(this.received) : null,
      last_flushed_lsn: this.flushed ? formatLsn(this.flushed) : null,
      last_uploaded_lsn: up?.uploadedLsn ? formatLsn(up.uploadedLsn) : null,
      segments_archived: up?.segmentsArchived ?? this.st.segments_archived,
      upload_backlog: { segments: up?.backlogSegments ?? 0, bytes: up?.backlogBytes ?? 0 },
      errors: this.st.errors + (up?.errors ?? 0),
      upload_error: up?.lastError
        ? { code: up.lastError.code, message: up.lastError.message, since: new Date(up.failingSince ?? Date.now()).toISOString(), consecutive_failures: up.consecutiveFailures }
        : null,
      lag_seconds: Math.round(lag * 1000) / 1000,
    };
  }

  async slotState(): Promise<SlotState | null> {
    const state = await withSqlConnection(this.connection, (c) => querySlotState(c, this.slotName));
    this.st.slot = state;
    return state;
  }

  // ---- SessionHost ----

  async serverIdentified(id: ServerIdentity): Promise<void> {
    if (this.identity && this.identity.systemId !== id.systemId) {
      throw new PitrdError('SYSTEM_ID_MISMATCH', `server ${this.connection.host}:${this.connection.port} is now system ${id.systemId}, was ${this.identity.systemId}`, {
        context: { expected: this.identity.systemId, actual: id.systemId },
      });
    }
    this.identity = id;
    this.st.system_identifier = id.systemId;
    this.st.wal_segment_size = id.segSize;
    if (!this.repoVerified) await this.verifyRepository(id);
    if (!this.uploader) {
      this.uploader = new Uploader({
        dir: this.spoolDir,
        archive: this.opts.repository.wal,
        segSize: id.segSize,
        backoff: this.opts.uploadBackoff ?? { initialMs: 500, maxMs: 30_000 },
        logger: this.logger,
        // Catching up = more than 4 segments behind the server's WAL end.
        defer: () => this.session !== null && this.serverWalEnd - this.received > BigInt(4 * id.segSize),
        // Deferring must not fill a bounded spool: uploads then start at half of it.
        maxDeferredBytes: Math.min(this.opts.maxDeferredUploadBytes ?? 256 * 1024 * 1024, this.opts.maxSpoolBytes !== undefined ? Math.floor(this.opts.maxSpoolBytes / 2) : Infinity),
        // Streamed on the spool's verified identity during an outage: check the repository first.
        ready: () => (this.repoVerified ? Promise.resolve() : this.verifyRepository(id, false)),
      });
      await this.uploader.start();
    }
    // A restart on a spool already full (segments left by the last run): nothing is streamed.
    if (this.spoolFull()) throw this.spoolFullError();
  }

  /**
   * database.json records the server; any later mismatch refuses to stream (SYSTEM_ID_MISMATCH).
   * While storage is unreachable (`orLocal`), the identity verified by an earlier run
   * (./verified-identity.ts) stands in: streaming into the spool goes on, and the uploader runs
   * this check again (without the stand-in) before its first upload.
   */
  private async verifyRepository(id: ServerIdentity, orLocal = true): Promise<void> {
    const repo = this.opts.repository;
    let info: DatabaseInfo | null;
    try {
      await repo.confirm?.();
      info = await repo.info();
    } catch (err) {
      if (!isStorageUnreachable(err) && isPitrdError(err)) throw err;
      const local = orLocal ? await readVerifiedIdentity(this.spoolDir) : null;
      if (local === null) throw new PitrdError('STORAGE_UNAVAILABLE', `cannot read database.json of "${this.opts.database}": ${errorMessage(err)}`, { cause: err, retryable: true });
      if (local.system_identifier !== id.systemId || local.wal_segment_size !== id.segSize) {
        throw new PitrdError(
          'SYSTEM_ID_MISMATCH',
          `database "${this.opts.database}" was verified for system ${local.system_identifier} (segment size ${local.wal_segment_size}); the server is system ${id.systemId} (segment size ${id.segSize}): refusing to stream`,
          { context: { database: this.opts.database, expected: local.system_identifier, actual: id.systemId } },
        );
      }
      this.logger.warn({ err: loggedError(err) }, 'repository unreachable: streaming into the spool on the identity verified before; database.json is checked again before the first upload');
      return;
    }
    if (info === null) {
      await repo.saveInfo({ project: this.opts.project ?? 'default', system_identifier: id.systemId, pg_version: majorOf(id.pgVersion), wal_segment_size: id.segSize });
    } else if (info.system_identifier !== id.systemId || info.wal_segment_size !== id.segSize) {
      throw new PitrdError(
        'SYSTEM_ID_MISMATCH',
        `repository database "${this.opts.database}" belongs to system ${info.system_identifier} (segment size ${info.wal_segment_size}); the server is system ${id.systemId} (segment size ${id.segSize}): refusing to stream`,
        { context: { database: this.opts.database, expected: info.system_identifier, actual: id.systemId } },
      );
    }
    await saveVerifiedIdentity(this.spoolDir, { system_identifier: id.systemId, wal_segment_size: id.segSize });
    this.repoVerified = true;
  }

  async archiveLast(): Promise<NamedSegment | null> {
    try {
      return await this.archiveLookup(() => this.opts.repository.wal.lastSegment());
    } catch (err) {
      // The spool and the slot still give a safe start point; the archive only matters when the spool was lost.
      this.logger.warn({ err: loggedError(err) }, 'could not read the last archived segment; starting from spool and slot');
      return null;
    }
  }

  async archiveHas(timeline: TimelineId, name: string): Promise<boolean | null> {
    try {
      return await this.archiveLookup(() => this.opts.repository.wal.hasSegment(timeline, name));
    } catch (err) {
      this.logger.warn({ err: loggedError(err), segment: name }, 'could not ask the archive for a segment the spool holds only partially; its partial file is kept');
      return null;
    }
  }

  /** A repository question asked at start, bounded in time: an unreachable store must not stall replication. */
  private async archiveLookup<T>(ask: () => Promise<T>): Promise<T> {
    const timeout = this.opts.archiveLookupTimeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        ask(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer in ${timeout} ms`)), timeout);
        }),
      ]);
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  hasHistory(timeline: TimelineId): boolean {
    return this.histories.has(timeline);
  }

  historySpooled(timeline: TimelineId, bytes: number): void {
    this.histories.add(timeline);
    this.uploader?.enqueueHistory(timeline, bytes);
  }

  segmentComplete(_timeline: TimelineId, name: string, _endLsn: Lsn, sha256: string | null): void {
    this.st.last_wal_file = name;
    this.uploader?.enqueueSegment(name, sha256);
    // No room for the next segment: end the session (it flushes and reports what is durable).
    if (this.spoolFull()) void this.session?.stop();
  }

  /** The spool cannot take another whole segment within maxSpoolBytes. */
  private spoolFull(): boolean {
    const max = this.opts.maxSpoolBytes;
    const seg = this.st.wal_segment_size;
    if (max === undefined || seg === null || !this.uploader) return false;
    return this.uploader.state().backlogBytes + seg > max;
  }

  private spoolFullError(): PitrdError {
    const backlog = this.uploader?.state().backlogBytes ?? 0;
    return new PitrdError(
      'SPOOL_FULL',
      `the spool holds ${backlog} bytes waiting for upload and spool.max_bytes is ${this.opts.maxSpoolBytes}: no room for another segment, so WAL is not received or confirmed (the slot keeps it on the server) until uploads free room`,
      { retryable: true, context: { backlog_bytes: backlog, max_bytes: this.opts.maxSpoolBytes } },
    );
  }

  private async waitForSpoolRoom(): Promise<void> {
    if (this.st.status !== 'spool_full') {
      const e = this.spoolFullError();
      this.st.status = 'spool_full';
      this.st.last_error = { code: e.code, message: e.message, at: new Date().toISOString() };
      this.logger.error({ code: e.code, ...e.context }, 'spool full: streaming paused until uploads free room');
    }
    const s = cancellableSleep(500);
    this.sleeper = s;
    await s.done;
    this.sleeper = null;
    if (!this.spoolFull()) this.logger.info({ backlog_bytes: this.uploader?.state().backlogBytes ?? 0 }, 'spool has room again: streaming resumes');
  }

  streaming(start: StartPoint): void {
    this.st.status = 'running';
    this.st.timeline = start.timeline;
    // A gap stays reported: the hole in the archive does not heal when streaming resumes.
    if (start.gap) this.st.gap = { from: formatLsn(start.gap.from), to: formatLsn(start.gap.to) };
    this.received = start.lsn;
    this.flushed = start.lsn;
    this.slotMaintenance();
  }

  progress(p: { received: Lsn; flushed: Lsn; serverWalEnd: Lsn; bytes: number; timeline: TimelineId }): void {
    this.received = p.received;
    this.flushed = p.flushed;
    if (p.serverWalEnd > this.serverWalEnd) this.serverWalEnd = p.serverWalEnd;
    if (this.flushed >= this.serverWalEnd) this.caughtUpAt = Date.now();
    this.st.bytes_received += p.bytes;
    this.st.timeline = p.timeline;
  }

  slotMaintenance(): void {
    if (this.slotQuery) return;
    this.slotQuery = this.slotState()
      .then(() => undefined, () => undefined)
      .finally(() => {
        this.slotQuery = null;
      });
  }
}
