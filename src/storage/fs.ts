/**
 * The embedded default driver: objects are files under one local directory, key segments are
 * directories. Writes are atomic to readers (temp file in the same directory, fsync, rename,
 * fsync of the directory), so a crash leaves either the old object or the new one, never half.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { constants as fsConstants } from 'node:fs';
import { copyFile, mkdir, open, opendir, rename, link, stat, unlink, rm, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { PitrdError, isPitrdError } from '../errors.js';
import { directRefused, type DirectIoMode } from './direct-choice.js';
import { writeStream } from './fs-write.js';
import { TEMP_MARKER, validateKey, validatePrefix } from './keys.js';
import { signFsUrl } from './signed-url.js';
import { streamToBuffer } from './streams.js';
import type { ByteRange, ListOptions, ListPage, ObjectInfo, ObjectStore, PutOptions, PutResult, SignedUrl, StoreCapabilities } from './types.js';
import { listAllPages } from './list-all.js';

export interface FsObjectStoreOptions {
  /** Root directory; created when missing. */
  path: string;
  /** HMAC secret for signedUrl(); without it signedUrl() fails with CONFIG_INVALID. */
  signingSecret?: string;
  /** Base URL of the daemon's API that serves signed URLs (see verifyFsSignedUrl). */
  publicBaseUrl?: string;
  /** fsync files and directories on put (default true; tests of throughput may turn it off). */
  fsync?: boolean;
  /**
   * Write the bulk of large streamed objects with O_DIRECT: auto (the default: where the file
   * system takes it), on (an error where it does not) or off; see direct-choice.ts. Only with
   * fsync.
   */
  directIo?: DirectIoMode;
}

const DEFAULT_PAGE = 1000;

export class FsObjectStore implements ObjectStore {
  readonly capabilities: StoreCapabilities = { linkFiles: true, rangedReads: true, presign: false, indexedListing: false };
  readonly location: string;
  private readonly root: string;
  private readonly fsync: boolean;

  constructor(private readonly opts: FsObjectStoreOptions) {
    if (!opts.path) throw new PitrdError('CONFIG_INVALID', 'fs storage needs a path', { context: { key: 'storage.path' } });
    this.root = opts.path;
    this.location = `fs:${opts.path}`;
    this.fsync = opts.fsync ?? true;
  }

  private file(key: string): string {
    return join(this.root, ...validateKey(key).split('/'));
  }

  async put(key: string, body: Buffer | Readable, opts: PutOptions = {}): Promise<PutResult> {
    const target = this.file(key);
    const dir = dirname(target);
    await this.io(key, 'put', () => mkdir(dir, { recursive: true })).catch((err: unknown) => {
      if (!Buffer.isBuffer(body)) body.destroy();
      throw err;
    });
    const base = target.slice(dir.length + 1);
    const tmp = join(dir, `${base}${TEMP_MARKER}${randomBytes(6).toString('hex')}`);
    let fh: FileHandle | undefined;
    let size = 0;
    try {
      fh = await this.io(key, 'put', () => open(tmp, 'wx', 0o600));
      if (Buffer.isBuffer(body)) {
        await fh.writeFile(body);
        size = body.length;
      } else {
        const mode = this.opts.directIo ?? 'auto';
        size = await writeStream(fh, tmp, body, {
          durable: this.fsync,
          direct: this.fsync && mode !== 'off',
          ...(mode === 'on' ? { onDirectRefused: () => directRefused(this.root) } : {}),
        });
      }
      if (opts.contentLength !== undefined && opts.contentLength !== size) {
        throw new PitrdError('VALIDATION_ERROR', `object ${key}: body had ${size} bytes but contentLength said ${opts.contentLength}`, {
          context: { key, size, contentLength: opts.contentLength },
        });
      }
      if (this.fsync) await fh.sync();
      await fh.close();
      fh = undefined;
      await this.commitTemp(key, tmp, target, opts.ifNoneMatch === true, false);
      return { key, size };
    } catch (err) {
      if (!Buffer.isBuffer(body)) body.destroy();
      if (fh) await fh.close().catch(() => undefined);
      await rm(tmp, { force: true }).catch(() => undefined);
      throw this.wrap(err, key, 'put');
    }
  }

  /**
   * put() of a local file's bytes, without them passing through JS (WAL segments from the
   * receiver's spool). The caller promises the file is complete, durable (fsync'd) and never
   * written again. On this store's filesystem it becomes the object by a hard link: no byte is
   * copied and only the new name needs its directory fsync'd. Elsewhere the kernel copies it
   * (copy_file_range/sendfile) into a temp file, which is fsync'd and committed like put()'s.
   */
  async putFile(key: string, path: string, opts: PutOptions = {}): Promise<PutResult> {
    const target = this.file(key);
    const dir = dirname(target);
    const size = (await this.io(key, 'put', () => stat(path))).size;
    if (opts.contentLength !== undefined && opts.contentLength !== size) {
      throw new PitrdError('VALIDATION_ERROR', `object ${key}: file ${path} has ${size} bytes but contentLength said ${opts.contentLength}`, {
        context: { key, size, contentLength: opts.contentLength },
      });
    }
    await this.io(key, 'put', () => mkdir(dir, { recursive: true }));
    if (opts.ifNoneMatch) {
      try {
        await this.linkNew(key, path, target);
        if (this.fsync) await this.syncDir(dir);
        return { key, size };
      } catch (err) {
        if (isPitrdError(err)) throw err;
        // EXDEV (another filesystem), EPERM (no hard links here): copy below.
      }
    }
    const tmp = join(dir, `${target.slice(dir.length + 1)}${TEMP_MARKER}${randomBytes(6).toString('hex')}`);
    try {
      let linked = false;
      try {
        await link(path, tmp);
        linked = true;
      } catch {
        await copyFile(path, tmp, fsConstants.COPYFILE_EXCL);
      }
      if (!linked && this.fsync) {
        const fh = await open(tmp, 'r+');
        try {
          await fh.sync();
        } finally {
          await fh.close();
        }
      }
      await this.commitTemp(key, tmp, target, opts.ifNoneMatch === true, linked);
      return { key, size };
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => undefined);
      throw this.wrap(err, key, 'put');
    }
  }

  /**
   * Give the complete, fsync'd temp file its object name. With ifNoneMatch, link() fails with
   * EEXIST atomically, unlike a stat-then-rename. `sameFile`: tmp is a hard link of the target's
   * source, and rename() between two names of one file does nothing, so the temp name is removed.
   */
  private async commitTemp(key: string, tmp: string, target: string, ifNoneMatch: boolean, sameFile: boolean): Promise<void> {
    if (ifNoneMatch) {
      await this.linkNew(key, tmp, target);
      await unlink(tmp);
    } else {
      await rename(tmp, target);
      if (sameFile) await rm(tmp, { force: true });
    }
    if (this.fsync) await this.syncDir(dirname(target));
  }

  /** link(), with an existing target reported as OBJECT_EXISTS. */
  private async linkNew(key: string, from: string, target: string): Promise<void> {
    try {
      await link(from, target);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new PitrdError('OBJECT_EXISTS', `object ${key} already exists`, { context: { key, location: this.location } });
      }
      throw err;
    }
  }

  private async syncDir(dir: string): Promise<void> {
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    const path = this.file(key);
    const fh = await this.io(key, 'get', () => open(path, 'r'));
    try {
      const st = await fh.stat();
      if (!st.isFile()) {
        throw new PitrdError('OBJECT_NOT_FOUND', `object ${key} not found (only a prefix of other keys)`, { context: { key, location: this.location } });
      }
      const r = checkRange(key, range, st.size);
      if (r && r.end < r.start) {
        // A zero-length object read from 0: nothing to stream.
        await fh.close();
        return Readable.from([]);
      }
      return createReadStream('', { fd: fh, start: r?.start, end: r?.end, autoClose: true });
    } catch (err) {
      await fh.close().catch(() => undefined);
      throw this.wrap(err, key, 'get');
    }
  }

  async getBuffer(key: string, range?: ByteRange): Promise<Buffer> {
    return streamToBuffer(await this.get(key, range));
  }

  async head(key: string): Promise<ObjectInfo | null> {
    const path = this.file(key);
    try {
      const st = await stat(path);
      if (!st.isFile()) return null;
      return { key, size: st.size, lastModified: st.mtime };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
      throw this.wrap(err, key, 'head');
    }
  }

  /**
   * One page of keys > token under prefix, in byte order of the full key. A depth-first walk
   * that sorts each directory's entries by `name` for files and `name + '/'` for directories
   * yields exactly that order; subtrees wholly before the token or outside the prefix are never
   * opened, and the walk stops as soon as the page is full.
   */
  async list(prefix: string, opts: ListOptions = {}): Promise<ListPage> {
    validatePrefix(prefix);
    const limit = Math.max(1, Math.min(opts.limit ?? DEFAULT_PAGE, DEFAULT_PAGE));
    const after = opts.token;
    const objects: ObjectInfo[] = [];
    // Start in the deepest directory the prefix names completely.
    const cut = prefix.lastIndexOf('/');
    const startRel = cut < 0 ? '' : prefix.slice(0, cut + 1);
    let more = false;

    const walk = async (rel: string): Promise<boolean> => {
      // Only entries that can still contribute are kept while reading, so a huge WAL directory
      // listed from a late token holds just the names after it.
      const wanted = (name: string, dir: boolean): boolean => {
        const cmp = rel + name + (dir ? '/' : '');
        if (!(cmp.startsWith(prefix) || (dir && prefix.startsWith(cmp)))) return false;
        if (after === undefined) return true;
        return dir ? cmp > after || after.startsWith(cmp) : cmp > after;
      };
      const names = await this.readDirSorted(join(this.root, ...rel.split('/').filter(Boolean)), wanted);
      for (const { name, dir } of names) {
        const key = rel + name;
        const cmp = dir ? key + '/' : key;
        // Outside the prefix: either before it (skip) or past it (done with this dir).
        if (dir) {
          if (!(cmp.startsWith(prefix) || prefix.startsWith(cmp))) {
            if (cmp > prefix) return true;
            continue;
          }
          if (after !== undefined && cmp < after && !after.startsWith(cmp)) continue;
          if (!(await walk(cmp))) return false;
        } else {
          if (!key.startsWith(prefix)) {
            if (key > prefix) return true;
            continue;
          }
          if (after !== undefined && key <= after) continue;
          if (objects.length === limit) {
            more = true;
            return false;
          }
          const st = await stat(join(this.root, ...key.split('/'))).catch(() => null);
          if (st?.isFile()) objects.push({ key, size: st.size, lastModified: st.mtime });
        }
      }
      return true;
    };
    try {
      await walk(startRel);
    } catch (err) {
      throw this.wrap(err, prefix, 'list');
    }
    const page: ListPage = { objects };
    if (more) {
      const last = objects[objects.length - 1];
      if (last) page.nextToken = last.key;
    }
    return page;
  }

  private async readDirSorted(path: string, wanted: (name: string, dir: boolean) => boolean): Promise<{ name: string; dir: boolean }[]> {
    const out: { name: string; dir: boolean; sortKey: string }[] = [];
    let d;
    try {
      d = await opendir(path, { bufferSize: 256 });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return [];
      throw err;
    }
    for await (const e of d) {
      if (e.name.includes(TEMP_MARKER)) continue;
      const dir = e.isDirectory();
      if (!dir && !e.isFile()) continue;
      if (!wanted(e.name, dir)) continue;
      out.push({ name: e.name, dir, sortKey: dir ? e.name + '/' : e.name });
    }
    // Compare as UTF-8 bytes, like S3 does, not as UTF-16 code units.
    out.sort((a, b) => Buffer.compare(Buffer.from(a.sortKey), Buffer.from(b.sortKey)));
    return out;
  }

  listAll(prefix: string): AsyncIterable<ObjectInfo> {
    return listAllPages((p, o) => this.list(p, o), prefix);
  }

  async delete(keys: string[]): Promise<void> {
    const paths = keys.map((k) => [k, this.file(k)] as const);
    // Small bounded fan-out: deleting thousands of WAL segments should not open thousands of
    // concurrent syscalls.
    const queue = [...paths];
    const worker = async (): Promise<void> => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        const [key, path] = next;
        try {
          await unlink(path);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code !== 'ENOENT' && code !== 'ENOTDIR') throw this.wrap(err, key, 'delete');
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(8, queue.length) }, worker));
  }

  async signedUrl(key: string, expiresInSeconds: number): Promise<SignedUrl> {
    validateKey(key);
    if (!this.opts.signingSecret || !this.opts.publicBaseUrl) {
      throw new PitrdError('CONFIG_INVALID', 'fs storage needs signingSecret and publicBaseUrl to hand out signed URLs', {
        context: { key: this.opts.signingSecret ? 'storage.publicBaseUrl' : 'storage.signingSecret' },
      });
    }
    return signFsUrl({ publicBaseUrl: this.opts.publicBaseUrl, secret: this.opts.signingSecret, key, expiresInSeconds });
  }

  async close(): Promise<void> {
    /* nothing held open between calls */
  }

  private async io<T>(key: string, op: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw this.wrap(err, key, op);
    }
  }

  private wrap(err: unknown, key: string, op: string): PitrdError {
    if (isPitrdError(err)) return err;
    const code = (err as NodeJS.ErrnoException).code;
    if (op === 'put' && (code === 'EISDIR' || code === 'ENOTDIR' || code === 'EEXIST')) {
      // A file and a directory cannot share a name: on this driver 'a' and 'a/b' cannot both
      // be objects (S3 allows it; the repository layout never needs it).
      return new PitrdError('CONFLICT', `object ${key} cannot be stored in ${this.location}: one of its path segments is both an object and a prefix of other keys`, {
        context: { key, errno: code },
        cause: err,
      });
    }
    if (op === 'get' && (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR')) {
      return new PitrdError('OBJECT_NOT_FOUND', `object ${key} not found`, { context: { key, location: this.location }, cause: err });
    }
    const transient = code === 'ENOSPC' || code === 'EIO' || code === 'EMFILE' || code === 'ENFILE' || code === 'EAGAIN';
    return new PitrdError(transient ? 'STORAGE_UNAVAILABLE' : 'STORAGE_ERROR', `fs storage ${op} of ${key} in ${this.root} failed: ${code ?? String(err)}`, {
      context: { key, op, errno: code },
      cause: err,
      retryable: transient,
    });
  }
}

/**
 * Normalize a ByteRange against an object's size. A range that starts past the end is
 * VALIDATION_ERROR (S3 answers 416 for it too); an end past the end is clamped.
 */
export function checkRange(key: string, range: ByteRange | undefined, size: number): { start: number; end: number } | undefined {
  if (!range) return undefined;
  const { start } = range;
  if (!Number.isInteger(start) || start < 0 || (range.end !== undefined && (!Number.isInteger(range.end) || range.end < start))) {
    throw new PitrdError('VALIDATION_ERROR', `invalid byte range ${JSON.stringify(range)} for object ${key}`, { context: { key, range } });
  }
  if (start >= size && !(start === 0 && size === 0)) {
    throw new PitrdError('VALIDATION_ERROR', `byte range starting at ${start} is past the end of object ${key} (${size} bytes)`, {
      context: { key, range, size },
    });
  }
  return { start, end: Math.min(range.end ?? size - 1, size - 1) };
}
