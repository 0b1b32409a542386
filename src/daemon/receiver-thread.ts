/**
 * A database's WAL receiver on a worker thread, behind the Receiver interface the daemon uses.
 * Parsing the replication stream, hashing and writing segments and uploading them is steady work
 * on a busy server; on the main thread it competes with every HTTP request (and a request waits
 * behind whatever receiver callback runs). On its own thread it runs in parallel and the event
 * loop serving the API only handles requests.
 *
 * status() is synchronous (metrics, health, receiver-status read it): it returns the status the
 * thread posted last, every STATUS_PUSH_MS and with every reply, so it is at most that old.
 * If the thread dies (a bug, out of memory), the status says error and a new thread is started
 * after RESPAWN_MS; the receiver resumes from its spool and the slot as after a daemon restart.
 */
import type { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Config } from '../config/index.js';
import { initialStatus, type Receiver, type ReceiverOptions, type ReceiverStatus, type SlotState } from '../receiver/index.js';
import type { RepoJson } from '../repository/index.js';
import { startModuleWorker } from './module-worker.js';
import { fromWireError, repositoryHandoff, type RepositoryHandoff, type WireError } from './thread-wire.js';

const STATUS_PUSH_MS = 100;
const RESPAWN_MS = 5_000;

export type ThreadLogLevel = 'debug' | 'info' | 'warn' | 'error';

/** The receiver's options that cross to the thread (the repository and logger are made there). */
export type ThreadReceiverOptions = Omit<ReceiverOptions, 'repository' | 'logger'> & { database: string };

export interface ReceiverThreadData {
  repository: RepositoryHandoff;
  receiver: ThreadReceiverOptions;
  statusPushMs: number;
}

export type ReceiverThreadRequest = { id: number; op: 'start' | 'stop' | 'restart' | 'slotState' | 'retryUploads' };
export type ReceiverThreadReply =
  | { kind: 'status'; status: ReceiverStatus }
  | { kind: 'log'; level: ThreadLogLevel; obj: object; msg?: string }
  | { kind: 'reply'; id: number; ok: true; value: unknown; status: ReceiverStatus | null }
  | { kind: 'reply'; id: number; ok: false; error: WireError; status: ReceiverStatus | null };

interface Pending {
  resolve(v: unknown): void;
  reject(err: Error): void;
}

export class ReceiverThread implements Receiver {
  readonly slotName: string;
  readonly spoolDir: string;
  private worker: Worker | null = null;
  private last: ReceiverStatus = initialStatus();
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private readonly data: ReceiverThreadData;
  private running = false;
  private respawn: NodeJS.Timeout | null = null;

  constructor(
    config: Config,
    options: ThreadReceiverOptions,
    private readonly logger: Logger,
    repoJson: RepoJson,
  ) {
    if (options.slotName === undefined) throw new Error('ReceiverThread needs an explicit slot name');
    this.slotName = options.slotName;
    this.spoolDir = options.spoolDir;
    this.data = {
      repository: repositoryHandoff(config, repoJson),
      receiver: options,
      statusPushMs: STATUS_PUSH_MS,
    };
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      await this.call('start');
    } catch (err) {
      this.running = false;
      await this.terminate();
      throw err;
    }
  }

  async stop(): Promise<ReceiverStatus> {
    this.running = false;
    if (this.respawn) clearTimeout(this.respawn);
    this.respawn = null;
    if (!this.worker) return { ...this.last, status: 'stopped' };
    try {
      const final = (await this.call('stop')) as ReceiverStatus | null;
      if (final) this.last = final;
    } finally {
      await this.terminate();
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
    if (this.worker) void this.call('retryUploads').catch(() => undefined);
  }

  private call(op: ReceiverThreadRequest['op']): Promise<unknown> {
    const w = this.thread();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.postMessage({ id, op } satisfies ReceiverThreadRequest);
    });
  }

  private async terminate(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const w = startModuleWorker(import.meta.url, 'receiver-worker', { workerData: this.data, name: `pitrd-receiver-${this.data.receiver.database}` });
    w.on('message', (m: ReceiverThreadReply) => this.onMessage(m));
    let failed = false;
    const fail = (err: Error) => {
      if (failed) return;
      failed = true;
      if (this.worker !== w) return; // terminated on purpose
      this.worker = null;
      const all = [...this.pending.values()];
      this.pending.clear();
      for (const p of all) p.reject(err);
      this.last = { ...this.last, status: 'error', errors: this.last.errors + 1, last_error: { code: 'INTERNAL_ERROR', message: err.message, at: new Date().toISOString() } };
      if (!this.running) return;
      this.logger.error({ err: err.message, retry_in_ms: RESPAWN_MS }, 'receiver thread failed; starting a new one');
      this.respawn = setTimeout(() => {
        this.respawn = null;
        if (this.running) void this.call('start').catch((e: unknown) => this.logger.error({ err: e instanceof Error ? e.message : String(e) }, 'receiver thread could not start'));
      }, RESPAWN_MS);
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`receiver thread exited (code ${code})`)));
    this.worker = w;
    return w;
  }

  private onMessage(m: ReceiverThreadReply): void {
    if (m.kind === 'status') {
      this.last = m.status;
      return;
    }
    if (m.kind === 'log') {
      this.logger[m.level](m.obj, m.msg);
      return;
    }
    if (m.status) this.last = m.status;
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (m.ok) p.resolve(m.value);
    else p.reject(fromWireError(m.error));
  }
}
