/**
 * A running BASE_BACKUP's bytes, archive by archive, into writable streams (the repository's
 * objects, ./runner.ts): batched into pooled blocks, with backpressure on the socket. The
 * protocol itself is ../postgres/replication/base-backup.ts.
 */
import type { Writable } from 'node:stream';
import type { BaseBackupCommand, BaseBackupConnection, BaseBackupResult } from '../postgres/index.js';
import { BlockPool, copyInto } from '../storage/block-pool.js';

export interface ArchiveSink {
  /**
   * A new archive begins: return where its bytes go. Its chunks are pooled blocks
   * (../storage/block-pool.ts): a consumer that keeps one after passing it on copies it or
   * retains it, and only the last reader releases it.
   */
  archive(name: string, tablespacePath: string | null): Writable;
  /** The manifest begins (its chunks are pooled blocks too). */
  manifest(): Writable;
  /** The server's count of bytes sent so far. */
  progress(bytesDone: number): void;
}

const BATCH_BYTES = 1024 * 1024;

/** Run BASE_BACKUP on `conn`, feeding `sink`; resolves when the server reported the end LSN. */
export async function streamBaseBackup(conn: BaseBackupConnection, cmd: BaseBackupCommand, sink: ArchiveSink): Promise<BaseBackupResult> {
  let current: Writable | null = null;
  let paused = false;
  // CopyData messages are small (32 kB); batching them into 1 MiB writes cuts the per-chunk
  // cost of every stage downstream (sha256, gzip, encryption, storage). Batches are exactly
  // BATCH_BYTES (but the last of an archive), so the parallel gzip takes each as one member
  // without copying. Batches are pooled blocks (../storage/block-pool.ts): the stage that
  // reads one last gives it back, so the copy out of the socket's buffer lands in warm memory
  // and allocates nothing, and the sha256 thread hashes it in place. A batch is never written
  // to again once handed on, until it comes back.
  const pool = new BlockPool(BATCH_BYTES);
  let batch = pool.take();
  let batchLen = 0;
  const flushBatch = () => {
    if (batchLen === 0 || !current) return;
    const out = pool.handOut(batch, batchLen);
    batch = pool.take();
    batchLen = 0;
    if (!current.write(out) && !paused) {
      paused = true;
      conn.pause();
    }
  };
  const resume = () => {
    if (paused) {
      paused = false;
      conn.resume();
    }
  };
  const switchTo = (next: Writable | null) => {
    flushBatch();
    if (current) {
      current.removeListener('drain', resume);
      current.end();
    }
    resume();
    current = next;
    if (current) current.on('drain', resume);
  };
  try {
    const result = await conn.run(cmd, {
      archive: (name, path) => switchTo(sink.archive(name, path)),
      manifest: () => switchTo(sink.manifest()),
      progress: (bytes) => sink.progress(bytes),
      data: (buf) => {
        // The view is the socket's buffer: copy what is kept beyond this callback.
        let off = 0;
        while (off < buf.length) {
          const n = Math.min(BATCH_BYTES - batchLen, buf.length - off);
          copyInto(batch, batchLen, buf, off, off + n);
          batchLen += n;
          off += n;
          if (batchLen === BATCH_BYTES) flushBatch();
        }
      },
    });
    switchTo(null);
    return result;
  } finally {
    // On failure the open archive is ended, not destroyed: its object may then be stored
    // truncated, which the caller deletes, but no stream error can escape a consumer that has
    // not started reading yet. The caller knows it failed (this promise rejected).
    const open = current as Writable | null;
    if (open && !open.writableEnded && !open.destroyed) open.end();
  }
}
