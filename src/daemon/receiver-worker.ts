/**
 * One database's WAL receiver on its own thread (see ./receiver-thread.ts): the receiver of
 * src/receiver, unchanged, with its own handle on the repository. Its status is posted to the
 * main thread every STATUS_PUSH_MS and with every reply; its log lines are posted too and
 * written by the main thread's logger (one log stream, same redaction).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createReceiver, type Receiver } from '../receiver/index.js';
import type { ReceiverThreadData, ReceiverThreadReply, ReceiverThreadRequest, ThreadLogLevel } from './receiver-thread.js';
import { receiverRepository } from './repository-copy.js';
import { openHandedRepository, toWireError } from './thread-wire.js';

const data = workerData as ReceiverThreadData;
const port = parentPort!;

function post(msg: ReceiverThreadReply): void {
  try {
    port.postMessage(msg);
  } catch {
    // Something in a log object that cannot be cloned: send it as JSON text instead.
    port.postMessage(JSON.parse(JSON.stringify(msg)) as ReceiverThreadReply);
  }
}

const log = (level: ThreadLogLevel) => (obj: object, msg?: string) => post({ kind: 'log', level, obj, ...(msg !== undefined ? { msg } : {}) });
const logger = { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };

let receiver: Receiver | null = null;
let timer: NodeJS.Timeout | null = null;

function open(): Receiver {
  const repo = openHandedRepository(data.repository);
  return createReceiver({ ...data.receiver, repository: receiverRepository(repo, data.receiver.database), logger });
}

async function handle(m: ReceiverThreadRequest): Promise<unknown> {
  switch (m.op) {
    case 'start': {
      receiver ??= open();
      await receiver.start();
      timer ??= setInterval(() => post({ kind: 'status', status: receiver!.status() }), data.statusPushMs);
      return null;
    }
    case 'stop': {
      if (timer) clearInterval(timer);
      timer = null;
      return receiver ? await receiver.stop() : null;
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

// One request at a time, in order (start, restart and stop never interleave).
let chain: Promise<unknown> = Promise.resolve();
port.on('message', (m: ReceiverThreadRequest) => {
  chain = chain.then(async () => {
    try {
      const value = await handle(m);
      post({ kind: 'reply', id: m.id, ok: true, value, status: receiver?.status() ?? null });
    } catch (err) {
      post({
        kind: 'reply',
        id: m.id,
        ok: false,
        error: toWireError(err),
        status: receiver?.status() ?? null,
      });
    }
  });
});
