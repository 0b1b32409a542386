/**
 * The catalog thread (see ./catalog-thread.ts): opens its own handle on the repository and runs
 * WAL summarising and recovery-window computation for the main thread, one request at a time.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { recoveryWindow, summarizeArchive } from '../catalog/index.js';
import { isPitrdError } from '../errors.js';
import { openRepository, type Repository } from '../repository/index.js';
import { createObjectStore } from '../storage/index.js';
import { CATALOG_THREAD_NICE, type CatalogRequest, type CatalogReply, type CatalogWorkerData } from './catalog-thread.js';
import { lowerThreadPriority } from './module-worker.js';

// Background work: on a saturated machine, streaming WAL and answering the API come first.
lowerThreadPriority(CATALOG_THREAD_NICE);

const data = workerData as CatalogWorkerData;
let repo: Promise<Repository> | null = null;
const repository = () =>
  (repo ??= openRepository(createObjectStore(data.storage), {
    compression: data.repository.compression,
    ...(data.repository.key ? { key: Buffer.from(data.repository.key) } : {}),
  }).catch((err: unknown) => {
    repo = null; // a storage outage at start: the next request tries again
    throw err;
  }));

// Requests are queued: the main thread gets answers in order and this thread decodes one at a time.
let chain: Promise<unknown> = Promise.resolve();
parentPort!.on('message', (m: CatalogRequest) => {
  chain = chain.then(async () => {
    let reply: CatalogReply;
    try {
      const r = await repository();
      const value = m.op === 'summarize' ? await summarizeArchive(r, m.database) : await recoveryWindow(r, m.database);
      reply = { id: m.id, ok: true, value };
    } catch (err) {
      reply = {
        id: m.id,
        ok: false,
        error: isPitrdError(err)
          ? { code: err.code, message: err.message, context: { ...err.context }, retryable: err.retryable }
          : { code: null, message: err instanceof Error ? err.message : String(err), context: {}, retryable: false },
      };
    }
    parentPort!.postMessage(reply);
  });
});
