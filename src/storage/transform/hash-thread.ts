/**
 * sha256 on a helper thread. Hashing is the largest cost left on the main thread of a backup
 * once compression runs on the threadpool (Node's sha256 does roughly 1 GB/s), and node:crypto
 * has no asynchronous incremental hash, so one worker thread, shared by every stream of the
 * process and created on first use, hashes for them.
 *
 * The bytes travel in SharedArrayBuffer slabs that each stream owns and reuses (a copy on the
 * main thread costs a tenth of hashing them); the worker hashes a slab in place and hands it
 * back, which bounds the memory to the slabs. A block that is already in shared memory and
 * will not change until the hash is done with it (a pooled block, see ../block-pool.ts) is
 * hashed where it is, without the copy. Messages are processed in order, so a stream's updates
 * reach its hash in order.
 */
import { Worker } from 'node:worker_threads';
import { copyInto } from '../block-pool.js';

// Plain JavaScript evaluated by the worker: no loader, no build step, the same under tsx and
// from dist/.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const hashes = new Map();
parentPort.on('message', (m) => {
  if (m.op === 'update') {
    let h = hashes.get(m.id);
    if (!h) { h = createHash('sha256'); hashes.set(m.id, h); }
    h.update(new Uint8Array(m.sab, m.off, m.len));
    parentPort.postMessage({ op: 'ack', id: m.id, slot: m.slot });
  } else if (m.op === 'digest') {
    const h = hashes.get(m.id) ?? createHash('sha256');
    hashes.delete(m.id);
    parentPort.postMessage({ op: 'digest', id: m.id, hex: h.digest('hex') });
  } else if (m.op === 'drop') {
    hashes.delete(m.id);
  }
});
`;

/** slot >= 0: one of the stream's slabs; slot < 0: a lent block, -1 - its token. */
type Reply = { op: 'ack'; id: number; slot: number } | { op: 'digest'; id: number; hex: string };

interface Client {
  onAck(slot: number): void;
  onDigest(hex: string): void;
  onError(err: Error): void;
}

let worker: Worker | null = null;
let nextId = 1;
const clients = new Map<number, Client>();
/** Messages awaiting a reply: the worker keeps the process alive only while there are some. */
let outstanding = 0;

function getWorker(): Worker {
  if (worker) return worker;
  const w = new Worker(WORKER_SOURCE, { eval: true, name: 'pitrd-sha256' });
  w.unref();
  w.on('message', (m: Reply) => {
    settle();
    const c = clients.get(m.id);
    if (!c) return;
    if (m.op === 'ack') c.onAck(m.slot);
    else {
      clients.delete(m.id);
      c.onDigest(m.hex);
    }
  });
  const fail = (err: Error) => {
    if (worker === w) worker = null;
    outstanding = 0;
    const all = [...clients.values()];
    clients.clear();
    for (const c of all) c.onError(err);
  };
  w.on('error', fail);
  w.on('exit', (code) => fail(new Error(`sha256 helper thread exited (code ${code})`)));
  worker = w;
  return w;
}

function send(msg: object): void {
  const w = getWorker();
  if (outstanding++ === 0) w.ref();
  w.postMessage(msg);
}

function settle(): void {
  if (outstanding > 0 && --outstanding === 0) worker?.unref();
}

/** Slab size and count per stream: at most SLABS x SLAB_BYTES are waiting to be hashed. */
export const HASH_SLAB_BYTES = 1024 * 1024;
export const HASH_SLABS = 4;

/**
 * One incremental sha256 computed on the helper thread. `update` copies into free slabs; when
 * every slab is with the worker it takes less than it was given (see whenFree).
 */
export class ThreadedSha256 {
  private readonly id = nextId++;
  private readonly slabs: Buffer[];
  private readonly free: number[];
  private current = -1;
  private fill = 0;
  private waiter: (() => void) | null = null;
  private digestCb: ((err: Error | null, hex?: string) => void) | null = null;
  private error: Error | null = null;
  /** Lent blocks with the worker, by token: called once hashed. */
  private readonly lentDone = new Map<number, () => void>();
  private nextToken = 0;

  constructor(
    private readonly slabBytes = HASH_SLAB_BYTES,
    private readonly slabCount = HASH_SLABS,
  ) {
    // Allocated on first use.
    this.slabs = [];
    this.free = Array.from({ length: slabCount }, (_, i) => slabCount - 1 - i);
    clients.set(this.id, {
      onAck: (slot) => {
        if (slot >= 0) this.free.push(slot);
        else {
          const done = this.lentDone.get(-1 - slot);
          this.lentDone.delete(-1 - slot);
          done?.();
        }
        const w = this.waiter;
        this.waiter = null;
        w?.();
      },
      onDigest: (hex) => this.digestCb?.(null, hex),
      onError: (err) => {
        this.error = err;
        const w = this.waiter;
        this.waiter = null;
        w?.();
        this.digestCb?.(err);
      },
    });
  }

  /**
   * Copy `chunk` for hashing; returns how many bytes were taken. Fewer than chunk.length: no slab
   * is free; wait with whenFree() and call again with the rest.
   */
  update(chunk: Buffer): number {
    if (this.error) throw this.error;
    let off = 0;
    while (off < chunk.length) {
      if (this.current === -1) {
        const slot = this.free.pop();
        if (slot === undefined) return off;
        this.current = slot;
        this.fill = 0;
      }
      const n = Math.min(this.slabBytes - this.fill, chunk.length - off);
      const slab = (this.slabs[this.current] ??= Buffer.from(new SharedArrayBuffer(this.slabBytes)));
      copyInto(slab, this.fill, chunk, off, off + n);
      this.fill += n;
      off += n;
      if (this.fill === this.slabBytes) this.post();
    }
    return off;
  }

  /** Call `cb` once update() can take more (or the helper failed). */
  whenFree(cb: () => void): void {
    if (this.free.length > 0 || this.error) cb();
    else this.waiter = cb;
  }

  /**
   * Hash `chunk` in place: it must be in shared memory and stay unchanged until `done` is
   * called. False (nothing taken) when as many blocks as there are slabs are with the worker
   * already: wait with whenLendable() and call again.
   */
  updateInPlace(chunk: Buffer, done: () => void): boolean {
    if (this.error) throw this.error;
    if (!(chunk.buffer instanceof SharedArrayBuffer)) throw new TypeError('updateInPlace needs a buffer in shared memory');
    if (this.lentDone.size >= this.slabCount) return false;
    // Bytes copied earlier go first: the worker applies updates in message order.
    if (this.current !== -1 && this.fill > 0) this.post();
    const token = this.nextToken++;
    this.lentDone.set(token, done);
    send({ op: 'update', id: this.id, sab: chunk.buffer, off: chunk.byteOffset, len: chunk.length, slot: -1 - token });
    return true;
  }

  /** Call `cb` once updateInPlace() can take a block (or the helper failed). */
  whenLendable(cb: () => void): void {
    if (this.lentDone.size < this.slabCount || this.error) cb();
    else this.waiter = cb;
  }

  digest(cb: (err: Error | null, hex?: string) => void): void {
    if (this.error) {
      cb(this.error);
      return;
    }
    if (this.current !== -1 && this.fill > 0) this.post();
    this.digestCb = cb;
    send({ op: 'digest', id: this.id });
  }

  /** Forget this hash (the stream was destroyed). */
  dispose(): void {
    if (clients.delete(this.id) && worker) worker.postMessage({ op: 'drop', id: this.id });
  }

  private post(): void {
    send({ op: 'update', id: this.id, sab: this.slabs[this.current]!.buffer, off: 0, len: this.fill, slot: this.current });
    this.current = -1;
    this.fill = 0;
  }
}
