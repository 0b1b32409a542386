/**
 * A database's WAL receiver on one of the daemon's receiver threads, behind the Receiver
 * interface the daemon uses. Parsing the replication stream, hashing and writing segments and
 * uploading them is steady work on a busy server; on the main thread it competes with every HTTP
 * request (and a request waits behind whatever receiver callback runs). On a receiver thread
 * (./receiver-pool.ts: a few threads, each serving several databases) it runs in parallel and
 * the event loop serving the API only handles requests.
 *
 * status() is synchronous (metrics, health, receiver-status read it): it returns the status the
 * thread posted last, every STATUS_PUSH_MS and with every reply, so it is at most that old.
 * If the thread dies (a bug, out of memory), the status of every database on it says error and
 * each starts again on a new thread after RESPAWN_MS; a receiver resumes from its spool and the
 * slot as after a daemon restart.
 */
import type { Logger } from 'pino';
import { loggedError } from '../errors.js';
import type { Config } from '../config/index.js';
import { initialStatus, type Receiver, type ReceiverOptions, type ReceiverStatus, type SlotState } from '../receiver/index.js';
import type { RepoJson } from '../repository/index.js';
import { ReceiverThreadPool, type ReceiverHost, type ReceiverThreadOp, type SessionData, type SessionSink, type ThreadLogLevel } from './receiver-pool.js';
import { repositoryHandoff } from './thread-wire.js';

const RESPAWN_MS = 5_000;

/** The receiver's options that cross to the thread (the repository and logger are made there). */
export type ThreadReceiverOptions = Omit<ReceiverOptions, 'repository' | 'logger'> & { database: string };

/** One pool per process unless a caller brings its own (tests). */
let defaultPool: ReceiverThreadPool | null = null;
export function receiverThreadPool(): ReceiverThreadPool {
  defaultPool ??= new ReceiverThreadPool();
  return defaultPool;
}

export class ReceiverThread implements Receiver, SessionSink {
  readonly slotName: string;
  readonly spoolDir: string;
  private last: ReceiverStatus = initialStatus();
  private readonly data: SessionData;
  private readonly session: number;
  private readonly host: ReceiverHost;
  private running = false;
  private respawn: NodeJS.Timeout | null = null;

  constructor(
    config: Config,
    options: ThreadReceiverOptions,
    private readonly logger: Logger,
    repoJson: RepoJson,
    pool: ReceiverThreadPool = receiverThreadPool(),
  ) {
    if (options.slotName === undefined) throw new Error('ReceiverThread needs an explicit slot name');
    this.slotName = options.slotName;
    this.spoolDir = options.spoolDir;
    this.data = { repository: repositoryHandoff(config, repoJson), receiver: options };
    ({ session: this.session, host: this.host } = pool.assign());
  }

  /** The pool slot this receiver runs in (tests, observability). */
  get thread(): ReceiverHost {
    return this.host;
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.host.attach(this.session, this);
    try {
      await this.call('start');
    } catch (err) {
      this.running = false;
      await this.host.detach(this.session);
      throw err;
    }
  }

  async stop(): Promise<ReceiverStatus> {
    this.running = false;
    if (this.respawn) clearTimeout(this.respawn);
    this.respawn = null;
    if (!this.host.live) {
      await this.host.detach(this.session);
      return { ...this.last, status: 'stopped' };
    }
    try {
      const final = (await this.call('stop')) as ReceiverStatus | null;
      if (final) this.last = final;
    } finally {
      await this.host.detach(this.session);
    }
    return this.status();
  }

  async restart(): Promise<void> {
    await this.call('restart');
  }

  status(): ReceiverStatus {
    return this.last;
  }

  async slotState(): Promise<SlotState | null> {
    return (await this.call('slotState')) as SlotState | null;
  }

  retryUploads(): void {
    if (this.host.live) void this.call('retryUploads').catch(() => undefined);
  }

  onStatus(status: ReceiverStatus): void {
    this.last = status;
  }

  onLog(level: ThreadLogLevel, obj: object, msg?: string): void {
    this.logger[level](obj, msg);
  }

  onThreadFailed(err: Error): void {
    this.last = { ...this.last, status: 'error', errors: this.last.errors + 1, last_error: { code: 'INTERNAL_ERROR', message: err.message, at: new Date().toISOString() } };
    if (!this.running || this.respawn) return;
    this.logger.error({ err: loggedError(err), thread: this.host.index, retry_in_ms: RESPAWN_MS }, 'receiver thread failed; starting a new one');
    this.respawn = setTimeout(() => {
      this.respawn = null;
      if (this.running) void this.call('start').catch((e: unknown) => this.logger.error({ err: loggedError(e) }, 'receiver thread could not start'));
    }, RESPAWN_MS);
  }

  private call(op: ReceiverThreadOp): Promise<unknown> {
    return this.host.call(this.session, op, op === 'start' ? this.data : undefined);
  }
}
