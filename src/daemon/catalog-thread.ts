/**
 * WAL summarising and recovery windows on a worker thread. Decoding a 16 MiB segment is hundreds
 * of milliseconds of synchronous work (plus the garbage it leaves); on the main thread it held
 * every HTTP request and the receivers' sockets for that long (measured under pgbench: stalls of
 * 0.3-0.8 s, see bench/api-daemon-bench.ts). The thread opens its own handle on the repository
 * (same storage, key and compression) and answers one request at a time; results and errors come
 * back as plain data (PitrdErrors keep their code).
 */
import type { Worker } from 'node:worker_threads';
import type { RecoveryWindowView, SummarizeResult } from '../catalog/index.js';
import type { Config } from '../config/index.js';
import { PitrdError } from '../errors.js';
import type { DatabaseRef, DatabaseRepository, RepoJson } from '../repository/index.js';
import type { PlanCatalog } from '../restore/index.js';
import type { Lsn } from '../types.js';
import type { WindowInput, XidCandidate } from '../wal/index.js';
import { startModuleWorker } from './module-worker.js';
import { fromWireError, repositoryHandoff, type RepositoryHandoff, type WireError } from './thread-wire.js';

/** The thread's nice value (Linux): below the event loop and the receivers, which keep 0. */
export const CATALOG_THREAD_NICE = 10;

export type CatalogWorkerData = RepositoryHandoff;

export type CatalogRequest =
  | { id: number; op: 'summarize' | 'windows' | 'window-input'; database: DatabaseRef }
  | { id: number; op: 'locate-xid'; database: DatabaseRef; candidates: XidCandidate[]; xid: number };
/** Plain data across the thread boundary (a DatabaseEntry or a handle holds functions). */
const plain = (ref: DatabaseRef): DatabaseRef => ({ project: ref.project, name: ref.name });

export type CatalogReply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: WireError };

type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;

interface Pending {
  resolve(v: unknown): void;
  reject(err: Error): void;
}

export class CatalogThread {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private readonly data: CatalogWorkerData;

  constructor(config: Config, repoJson: RepoJson) {
    this.data = repositoryHandoff(config, repoJson);
  }

  /** summarizeArchive(repo, database) on the thread. */
  summarize(database: DatabaseRef): Promise<SummarizeResult> {
    return this.call({ op: 'summarize', database: plain(database) }) as Promise<SummarizeResult>;
  }

  /** recoveryWindow(repo, database) on the thread. */
  windows(database: DatabaseRef): Promise<RecoveryWindowView[]> {
    return this.call({ op: 'windows', database: plain(database) }) as Promise<RecoveryWindowView[]>;
  }

  /**
   * The restore plan's catalog on the thread: summaries brought up to date and loaded by the same
   * code the API's window is computed from, and an xid's record looked up there.
   */
  planCatalog(): PlanCatalog {
    return {
      windowInput: (db: DatabaseRepository) => this.call({ op: 'window-input', database: plain(db) }) as Promise<WindowInput>,
      locateXid: (db: DatabaseRepository, candidates: readonly XidCandidate[], xid: number) =>
        this.call({ op: 'locate-xid', database: plain(db), candidates: [...candidates], xid }) as Promise<Lsn | null>,
    };
  }

  /** End the thread (after the callers awaited their requests). */
  async stop(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }

  private call(req: DistributiveOmit<CatalogRequest, 'id'>): Promise<unknown> {
    const w = this.thread();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // Referenced only while a request is outstanding: an idle thread never keeps the process up.
      if (this.pending.size === 1) w.ref();
      w.postMessage({ ...req, id } satisfies CatalogRequest);
    });
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const w = startModuleWorker(import.meta.url, 'catalog-worker', { workerData: this.data, name: 'pitrd-catalog' });
    w.unref();
    w.on('message', (m: CatalogReply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) w.unref();
      if (m.ok) p.resolve(m.value);
      else p.reject(fromWireError(m.error));
    });
    const fail = (err: Error) => {
      // The next request starts a new thread; the ones in flight fail with the reason.
      if (this.worker === w) this.worker = null;
      const all = [...this.pending.values()];
      this.pending.clear();
      for (const p of all) p.reject(err);
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new PitrdError('INTERNAL_ERROR', `catalog thread exited (code ${code})`)));
    this.worker = w;
    return w;
  }
}
