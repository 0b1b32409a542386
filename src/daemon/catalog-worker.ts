/**
 * The catalog thread (see ./catalog-thread.ts): opens its own handle on the repository and runs
 * WAL summarising and recovery-window computation for the main thread, one request at a time.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadWindowInput, locateXid, recoveryWindow, summarizeArchive } from '../catalog/index.js';
import { CATALOG_THREAD_NICE, type CatalogRequest, type CatalogReply, type CatalogWorkerData } from './catalog-thread.js';
import { lowerThreadPriority } from './module-worker.js';
import { openHandedRepository, toWireError } from './thread-wire.js';

// Background work: on a saturated machine, streaming WAL and answering the API come first.
lowerThreadPriority(CATALOG_THREAD_NICE);

const repo = openHandedRepository(workerData as CatalogWorkerData);

async function run(m: CatalogRequest): Promise<unknown> {
  if (m.op === 'summarize') return summarizeArchive(repo, m.database);
  if (m.op === 'windows') return recoveryWindow(repo, m.database);
  if (m.op === 'locate-xid') return locateXid(repo.database(m.database), m.candidates, m.xid);
  // A restore's plan: the archive summarised up to now, then the window's own input.
  await summarizeArchive(repo, m.database);
  return loadWindowInput(repo.database(m.database));
}

// Requests are queued: the main thread gets answers in order and this thread decodes one at a time.
let chain: Promise<unknown> = Promise.resolve();
parentPort!.on('message', (m: CatalogRequest) => {
  chain = chain.then(async () => {
    let reply: CatalogReply;
    try {
      const value = await run(m);
      reply = { id: m.id, ok: true, value };
    } catch (err) {
      reply = { id: m.id, ok: false, error: toWireError(err) };
    }
    parentPort!.postMessage(reply);
  });
});
