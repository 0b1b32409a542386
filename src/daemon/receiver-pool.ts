/**
 * The daemon's receiver threads: a small fixed pool of worker threads, each running the WAL
 * receivers of several databases (sessions) on its own event loop (./receiver-worker.ts).
 *
 * Why shared: a worker thread is a whole V8 isolate, heap and code included, and one per
 * protected database cost 40-55 MB each with 8 databases (issue 20). A receiver spends nearly all
 * its time waiting on sockets and disks, so one event loop serves many; a few threads still keep
 * the receivers off the thread that answers HTTP requests, and in parallel with it.
 *
 * A session goes to the thread with the fewest sessions (in turn among equals). A thread is
 * started when its first session starts and ended when its last one stops. If a thread dies,
 * every session on it is told (each reports the error and starts again on a new thread of the
 * same slot after its delay: ./receiver-thread.ts).
 */
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import type { ReceiverStatus } from '../receiver/index.js';
import { startModuleWorker } from './module-worker.js';
import { fromWireError, type RepositoryHandoff, type WireError } from './thread-wire.js';
import type { ThreadReceiverOptions } from './receiver-thread.js';

/** At most this many receiver threads, and never more than the cores. */
export const MAX_RECEIVER_THREADS = 4;
export const STATUS_PUSH_MS = 100;

export type ThreadLogLevel = 'debug' | 'info' | 'warn' | 'error';

/** What a session needs to be opened on a thread (sent with every start: a new thread knows nothing). */
export interface SessionData {
  repository: RepositoryHandoff;
  receiver: ThreadReceiverOptions;
}

export type ReceiverThreadOp = 'start' | 'stop' | 'restart' | 'slotState' | 'retryUploads';
export type ReceiverThreadRequest = { id: number; session: number; op: ReceiverThreadOp; data?: SessionData };
export type ReceiverThreadReply =
  | { kind: 'status'; statuses: [number, ReceiverStatus][] }
  | { kind: 'log'; session: number; level: ThreadLogLevel; obj: object; msg?: string }
  | { kind: 'reply'; id: number; session: number; ok: true; value: unknown; status: ReceiverStatus | null }
  | { kind: 'reply'; id: number; session: number; ok: false; error: WireError; status: ReceiverStatus | null };

export interface WorkerThreadData {
  statusPushMs: number;
}

/** The main-thread side of one session, as the thread that hosts it sees it. */
export interface SessionSink {
  onStatus(status: ReceiverStatus): void;
  onLog(level: ThreadLogLevel, obj: object, msg?: string): void;
  /** The thread died: pending calls were rejected with `err`. */
  onThreadFailed(err: Error): void;
}

interface Pending {
  resolve(v: unknown): void;
  reject(err: Error): void;
}

/** One slot of the pool: at most one live worker, and the sessions assigned to it. */
export class ReceiverHost {
  private worker: Worker | null = null;
  private readonly sessions = new Map<number, SessionSink>();
  private readonly pending = new Map<number, Pending & { session: number }>();
  private nextId = 1;
  /** Workers started in this slot (the first, then one per replacement). */
  started = 0;

  constructor(readonly index: number) {}

  get sessionCount(): number {
    return this.sessions.size;
  }

  attach(session: number, sink: SessionSink): void {
    this.sessions.set(session, sink);
  }

  /** The session is gone; the last one out ends the thread. */
  async detach(session: number): Promise<void> {
    this.sessions.delete(session);
    if (this.sessions.size === 0) await this.terminate();
  }

  /** Whether a worker is running (a call would not start one). */
  get live(): boolean {
    return this.worker !== null;
  }

  call(session: number, op: ReceiverThreadOp, data?: SessionData): Promise<unknown> {
    const w = this.thread();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, session });
      w.postMessage({ id, session, op, ...(data ? { data } : {}) } satisfies ReceiverThreadRequest);
    });
  }

  /** End the worker as if it had died (tests): its sessions are told, as for a crash. */
  async crash(): Promise<void> {
    await this.worker?.terminate();
  }

  private async terminate(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const workerData: WorkerThreadData = { statusPushMs: STATUS_PUSH_MS };
    const w = startModuleWorker(import.meta.url, 'receiver-worker', { workerData, name: `pitrd-receivers-${this.index}` });
    this.started++;
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
      for (const s of [...this.sessions.values()]) s.onThreadFailed(err);
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`receiver thread exited (code ${code})`)));
    this.worker = w;
    return w;
  }

  private onMessage(m: ReceiverThreadReply): void {
    if (m.kind === 'status') {
      for (const [session, status] of m.statuses) this.sessions.get(session)?.onStatus(status);
      return;
    }
    if (m.kind === 'log') {
      this.sessions.get(m.session)?.onLog(m.level, m.obj, m.msg);
      return;
    }
    if (m.status) this.sessions.get(m.session)?.onStatus(m.status);
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (m.ok) p.resolve(m.value);
    else p.reject(fromWireError(m.error));
  }
}

export class ReceiverThreadPool {
  readonly hosts: ReceiverHost[];
  private turn = 0;
  private nextSession = 1;

  constructor(size: number = Math.max(1, Math.min(MAX_RECEIVER_THREADS, availableParallelism()))) {
    this.hosts = Array.from({ length: size }, (_, i) => new ReceiverHost(i));
  }

  /** A new session id and the slot it runs in: the fewest sessions, in turn among equals. */
  assign(): { session: number; host: ReceiverHost } {
    const n = this.hosts.length;
    let best: ReceiverHost | null = null;
    for (let k = 0; k < n; k++) {
      const h = this.hosts[(this.turn + k) % n]!;
      if (best === null || h.sessionCount < best.sessionCount) best = h;
    }
    this.turn = (best!.index + 1) % n;
    return { session: this.nextSession++, host: best! };
  }

  /** Live worker threads (observability and the many-servers benchmark). */
  get liveThreads(): number {
    return this.hosts.filter((h) => h.live).length;
  }
}
