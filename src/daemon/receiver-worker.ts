/**
 * A receiver thread (see ./receiver-pool.ts): the WAL receivers of several databases, each the
 * receiver of src/receiver unchanged, on this thread's one event loop. Sessions share one handle
 * on the repository (one store, one S3 client). Their statuses are posted to the main thread
 * together every STATUS_PUSH_MS, and each with every reply; their log lines are posted too and
 * written by the main thread's logger (one log stream, same redaction).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createReceiver, type Receiver, type ReceiverStatus } from '../receiver/index.js';
import type { Repository } from '../repository/index.js';
import type { ReceiverThreadReply, ReceiverThreadRequest, SessionData, ThreadLogLevel, WorkerThreadData } from './receiver-pool.js';
import { receiverRepository } from './repository-copy.js';
import { openHandedRepository, toWireError, type RepositoryHandoff } from './thread-wire.js';

const data = workerData as WorkerThreadData;
const port = parentPort!;

function post(msg: ReceiverThreadReply): void {
  try {
    port.postMessage(msg);
  } catch {
    // Something in a log object that cannot be cloned: send it as JSON text instead.
    port.postMessage(JSON.parse(JSON.stringify(msg)) as ReceiverThreadReply);
  }
}

function loggerFor(session: number) {
  const log = (level: ThreadLogLevel) => (obj: object, msg?: string) => post({ kind: 'log', session, level, obj, ...(msg !== undefined ? { msg } : {}) });
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

const receivers = new Map<number, Receiver>();
/** Repository handles by what they were opened from: every session of one daemon shares one. */
const repositories = new Map<string, Repository>();
let timer: NodeJS.Timeout | null = null;

function repositoryFor(h: RepositoryHandoff): Repository {
  const key = JSON.stringify({ ...h, key: h.key ? Buffer.from(h.key).toString('base64') : null });
  let repo = repositories.get(key);
  if (!repo) {
    repo = openHandedRepository(h);
    repositories.set(key, repo);
  }
  return repo;
}

function open(session: number, d: SessionData): Receiver {
  const repo = repositoryFor(d.repository);
  return createReceiver({ ...d.receiver, repository: receiverRepository(repo, { project: d.receiver.project ?? 'default', name: d.receiver.database }), logger: loggerFor(session) });
}

function pushStatuses(): void {
  post({ kind: 'status', statuses: [...receivers].map(([s, r]) => [s, r.status()]) });
}

async function handle(m: ReceiverThreadRequest): Promise<unknown> {
  const receiver = receivers.get(m.session);
  switch (m.op) {
    case 'start': {
      let r = receiver;
      if (!r) {
        if (!m.data) throw new Error(`receiver session ${m.session} started without its options`);
        r = open(m.session, m.data);
        receivers.set(m.session, r);
      }
      try {
        await r.start();
      } catch (err) {
        // The thread lives on for other sessions: nothing of this one may stay behind.
        receivers.delete(m.session);
        await r.stop().catch(() => undefined);
        throw err;
      }
      timer ??= setInterval(pushStatuses, data.statusPushMs);
      return null;
    }
    case 'stop': {
      if (!receiver) return null;
      try {
        return await receiver.stop();
      } finally {
        receivers.delete(m.session);
        if (receivers.size === 0 && timer) {
          clearInterval(timer);
          timer = null;
        }
      }
    }
    case 'restart':
      await receiver?.restart();
      return null;
    case 'slotState':
      return receiver ? await receiver.slotState() : null;
    case 'retryUploads':
      receiver?.retryUploads();
      return null;
  }
}

// One request at a time per session, in order (start, restart and stop never interleave);
// sessions do not wait for each other.
const chains = new Map<number, Promise<unknown>>();
port.on('message', (m: ReceiverThreadRequest) => {
  const next = (chains.get(m.session) ?? Promise.resolve()).then(async () => {
    try {
      const value = await handle(m);
      // A stopped session is gone from the map: its final status is the value.
      const status = m.op === 'stop' ? (value as ReceiverStatus | null) : (receivers.get(m.session)?.status() ?? null);
      post({ kind: 'reply', id: m.id, session: m.session, ok: true, value, status });
    } catch (err) {
      post({ kind: 'reply', id: m.id, session: m.session, ok: false, error: toWireError(err), status: receivers.get(m.session)?.status() ?? null });
    }
  });
  chains.set(m.session, next);
  void next.then(() => {
    if (chains.get(m.session) === next) chains.delete(m.session);
  });
});
