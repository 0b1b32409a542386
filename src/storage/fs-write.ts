/**
 * The fs driver's streamed write: every byte of a body into an open file, with the file's dirty
 * pages flushed while it is written.
 *
 * Chunks are taken one by one as the stream gives them (a stream's async iterator would glue
 * together whatever it has buffered, which is a copy, and hides pooled blocks), and those that
 * piled up while the previous write ran go to the kernel in one writev: one trip to the
 * threadpool for several blocks, which matters on a busy machine where each trip waits for a
 * core. A pooled block (block-pool.ts) is given back once written (or copied for a direct
 * write): this is its last reader.
 */
import type { FileHandle } from 'node:fs/promises';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { releaseBlock } from './block-pool.js';
import { DirectWriter } from './fs-direct.js';

/** Bytes written between two background fdatasync()s. */
export const FLUSH_EVERY_BYTES = 32 * 1024 * 1024;
/**
 * A durable stream goes direct (fs-direct.ts) past this many bytes (a multiple of
 * DIRECT_ALIGN): large objects only.
 */
export const DIRECT_AFTER_BYTES = 8 * 1024 * 1024;
/** What may wait for the write in progress (and then goes in one writev). */
const WRITE_AHEAD_BYTES = 4 * 1024 * 1024;

/**
 * Write all of `body` to `fh`, the open file at `path`, from its start; resolves with the byte
 * count. `durable` (the caller fsyncs the file): dirty pages of what is written buffered are
 * flushed as it goes (BackgroundFlush). `direct`: past DIRECT_AFTER_BYTES the rest goes by
 * direct I/O where the file system allows it (fs-direct.ts); where it does not,
 * `onDirectRefused` (if given) makes the error to fail with, else the rest is written buffered.
 */
export async function writeStream(
  fh: FileHandle,
  path: string,
  body: Readable,
  opts: { durable: boolean; direct: boolean; onDirectRefused?: () => Error },
): Promise<number> {
  const flusher = opts.durable ? new BackgroundFlush(fh) : null;
  let size = 0;
  let direct: DirectWriter | null = null;
  let directTried = !opts.direct;
  const take = async (bufs: Buffer[]): Promise<void> => {
    let rest = bufs;
    const n = bufs.reduce((sum, b) => sum + b.length, 0);
    if (!directTried && size + n > DIRECT_AFTER_BYTES) {
      // Buffered up to the (aligned) switch point, direct from there on.
      directTried = true;
      const head = DIRECT_AFTER_BYTES - size;
      await writeAll(fh, prefix(bufs, head));
      rest = after(bufs, head);
      size += head;
      await flusher?.settle();
      direct = await DirectWriter.open(path, size);
      if (!direct && opts.onDirectRefused) throw opts.onDirectRefused();
    }
    if (direct) {
      await direct.write(rest);
    } else {
      const written = await writeAll(fh, rest);
      flusher?.wrote(written);
    }
    size += rest.reduce((sum, b) => sum + b.length, 0);
    for (const b of bufs) releaseBlock(b);
  };
  const sink = new Writable({
    highWaterMark: WRITE_AHEAD_BYTES,
    writev(chunks, cb) {
      take(chunks.map((c) => c.chunk as Buffer)).then(() => cb(), (err: unknown) => cb(err as Error));
    },
    final(cb) {
      if (!direct) cb();
      else direct.finish(fh).then(() => cb(), (err: unknown) => cb(err as Error));
    },
  });
  try {
    await pipeline(body, sink);
  } catch (err) {
    // The file is closed and removed by the caller: nothing may still be writing or flushing it.
    await (direct as DirectWriter | null)?.abort();
    await flusher?.settle().catch(() => undefined);
    throw err;
  }
  await flusher?.settle();
  return size;
}

async function writeAll(fh: FileHandle, bufs: Buffer[]): Promise<number> {
  let total = 0;
  let rest = bufs;
  while (rest.length > 0) {
    const { bytesWritten } = rest.length === 1 ? await fh.write(rest[0]!, 0, rest[0]!.length) : await fh.writev(rest);
    total += bytesWritten;
    rest = after(rest, bytesWritten);
  }
  return total;
}

/** The first `n` bytes of the buffers. */
function prefix(bufs: Buffer[], n: number): Buffer[] {
  const out: Buffer[] = [];
  for (const b of bufs) {
    if (n <= 0) break;
    out.push(n >= b.length ? b : b.subarray(0, n));
    n -= b.length;
  }
  return out;
}

/** The buffers minus their first `n` bytes (a short write). */
function after(bufs: Buffer[], n: number): Buffer[] {
  let i = 0;
  while (i < bufs.length && n >= bufs[i]!.length) n -= bufs[i++]!.length;
  if (i === bufs.length) return [];
  return n === 0 ? bufs.slice(i) : [bufs[i]!.subarray(n), ...bufs.slice(i + 1)];
}

/**
 * Writes a large object's dirty pages out while it is still being written, one fdatasync() at
 * a time on the threadpool, beside the writes. The kernel would otherwise start writeback only
 * at its dirty threshold (a tenth of RAM), so a multi-gigabyte base backup paid for all of its
 * disk writes in the final fsync, after the last byte arrived; flushed as it goes, the disk
 * works while the stream does and the final fsync only has the tail left. Durability is
 * unchanged: the caller still fsyncs the whole file before it is renamed into place.
 */
class BackgroundFlush {
  private unflushed = 0;
  private inFlight: Promise<void> | null = null;
  private error: unknown = null;

  constructor(private readonly fh: FileHandle) {}

  wrote(bytes: number): void {
    this.unflushed += bytes;
    if (this.unflushed < FLUSH_EVERY_BYTES || this.inFlight) return;
    this.unflushed = 0;
    this.inFlight = this.fh.datasync().then(
      () => {
        this.inFlight = null;
      },
      (err: unknown) => {
        this.error ??= err;
        this.inFlight = null;
      },
    );
  }

  /** Wait for the flush in flight; rethrows a failed one (the file is not durable). */
  async settle(): Promise<void> {
    if (this.inFlight) await this.inFlight;
    if (this.error !== null) throw this.error;
  }
}
