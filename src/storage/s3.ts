/**
 * S3 (and S3-compatible) driver on @aws-sdk/client-s3. Small Buffers go up with one PutObject;
 * streams go through lib-storage's multipart Upload with a part size that lets the largest
 * object we accept fit in S3's 10,000 parts while holding only a couple of parts in memory.
 *
 * Outages must surface quickly as STORAGE_UNAVAILABLE (retryable) rather than hang: the HTTP
 * handler has connection and socket timeouts and the SDK a small retry budget; the callers
 * (uploader, backup) own the longer retry loops.
 *
 * The SDK is loaded on the store's first operation, not at import: constructing the store (and
 * importing storage/index.js) stays synchronous and SDK-free, so fs-only processes never pay for it.
 */
// Type-only: the SDK (~20 MB resident, slow to load) is imported on the first operation, so a
// process whose repository is on the fs driver never loads it.
import type { PutObjectCommandInput, S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import { Readable, Transform } from 'node:stream';
import { PitrdError } from '../errors.js';
import { validateKey, validatePrefix } from './keys.js';
import { mapS3Error } from './s3-errors.js';
import { choosePartSize, MIB } from './part-size.js';
import { sliceStream, streamToBuffer } from './streams.js';
import type { ByteRange, ListOptions, ListPage, ObjectInfo, ObjectStore, PutOptions, PutResult, SignedUrl, StoreCapabilities } from './types.js';
import { listAllPages } from './list-all.js';

export interface S3ObjectStoreOptions {
  /** e.g. http://127.0.0.1:9000 for S3-compatible servers; AWS when absent. */
  endpoint?: string;
  region: string;
  bucket: string;
  /** Key prefix inside the bucket ("team/pitrd"); '/'-joined to every key. */
  prefix?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  forcePathStyle?: boolean;
  /** TCP connect timeout (ms). Default 3000. */
  connectionTimeoutMs?: number;
  /**
   * Inactivity timeout of a request's socket (ms): no byte sent or received for this long fails
   * the request (a hung server, a stalled download). Not a cap on the whole transfer, so a big
   * part upload on a slow link is fine. Default 30000.
   */
  requestTimeoutMs?: number;
  /** Total SDK attempts per request (1 = no SDK retry). Default 3. */
  maxAttempts?: number;
  /** Largest object a stream of unknown length may become; sets the multipart part size. Default 1 TiB. */
  maxObjectSize?: number;
  /** Force a multipart part size (bytes, >= 5 MiB). */
  partSize?: number;
}

/** Buffers up to this size go up as one PutObject; larger ones (rare) use multipart. */
const SINGLE_PUT_MAX = 64 * MIB;
const DELETE_BATCH = 1000;

type ClientModule = typeof import('@aws-sdk/client-s3');
type UploadClass = typeof import('@aws-sdk/lib-storage').Upload;
type GetSignedUrl = typeof import('@aws-sdk/s3-request-presigner').getSignedUrl;

/** The SDK pieces the driver uses, with the one client built from the store's options. */
interface Sdk {
  s3: ClientModule;
  client: S3Client;
}

// One import per process whatever the number of stores: the module cache makes repeats cheap,
// but keeping the promise also keeps concurrent first calls on a single load.
let clientModule: Promise<ClientModule> | undefined;
function loadClientModule(): Promise<ClientModule> {
  if (clientModule === undefined) {
    const pending = import('@aws-sdk/client-s3');
    pending.catch(() => {
      if (clientModule === pending) clientModule = undefined;
    });
    clientModule = pending;
  }
  return clientModule;
}
// lib-storage and the presigner are needed only for multipart uploads and signed URLs.
const loadUpload = async (): Promise<UploadClass> => (await import('@aws-sdk/lib-storage')).Upload;
const loadGetSignedUrl = async (): Promise<GetSignedUrl> => (await import('@aws-sdk/s3-request-presigner')).getSignedUrl;

export class S3ObjectStore implements ObjectStore {
  readonly capabilities: StoreCapabilities = { linkFiles: false, rangedReads: true, presign: true, indexedListing: true };
  readonly location: string;
  private sdkPromise: Promise<Sdk> | undefined;
  private readonly bucket: string;
  private readonly prefix: string;

  constructor(private readonly opts: S3ObjectStoreOptions) {
    if (!opts.bucket) throw new PitrdError('CONFIG_INVALID', 's3 storage needs a bucket', { context: { key: 'storage.bucket' } });
    if (!opts.region) throw new PitrdError('CONFIG_INVALID', 's3 storage needs a region', { context: { key: 'storage.region' } });
    const p = (opts.prefix ?? '').replace(/^\/+|\/+$/g, '');
    if (p) validatePrefix(p);
    this.prefix = p ? `${p}/` : '';
    this.bucket = opts.bucket;
    this.location = `s3://${opts.bucket}/${this.prefix}${opts.endpoint ? ` at ${opts.endpoint}` : ''}`;
  }

  /** Load the SDK and build the client on first use (see the type-only import above). */
  private sdk(): Promise<Sdk> {
    if (this.sdkPromise === undefined) {
      const pending = loadClientModule().then((s3) => ({ s3, client: new s3.S3Client(this.clientConfig()) }));
      // A failed load (package missing) must not stick: the next operation tries again. The
      // caller still sees the rejection through the promise returned below.
      pending.catch(() => {
        if (this.sdkPromise === pending) this.sdkPromise = undefined;
      });
      this.sdkPromise = pending;
    }
    return this.sdkPromise;
  }

  private clientConfig(): S3ClientConfig {
    const opts = this.opts;
    return {
      region: opts.region,
      ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
      forcePathStyle: opts.forcePathStyle ?? false,
      ...(opts.accessKeyId && opts.secretAccessKey
        ? { credentials: { accessKeyId: opts.accessKeyId, secretAccessKey: opts.secretAccessKey } }
        : {}),
      maxAttempts: opts.maxAttempts ?? 3,
      // Constructor options of the SDK's NodeHttpHandler, so we need no direct @smithy dependency.
      requestHandler: {
        connectionTimeout: opts.connectionTimeoutMs ?? 3000,
        // socketTimeout is the inactivity guard (requestTimeout in this @smithy version only
        // logs a warning unless throwOnRequestTimeout is set, and would cap whole transfers).
        socketTimeout: opts.requestTimeoutMs ?? 30_000,
      },
      // S3-compatible servers (and s3rver) do not all understand the SDK's default flexible
      // checksums / aws-chunked uploads; our own sha256 transform covers integrity end to end.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    };
  }

  private k(key: string): string {
    return this.prefix + validateKey(key);
  }

  private fail(err: unknown, op: string, key: string): PitrdError {
    return mapS3Error(err, { op, key, location: this.location });
  }

  async put(key: string, body: Buffer | Readable, opts: PutOptions = {}): Promise<PutResult> {
    const Key = this.k(key);
    if (opts.ifNoneMatch) {
      // S3 honours IfNoneMatch:'*' atomically (sent below too), but s3rver and some other
      // S3-compatible servers ignore it. The head check makes the common case right there;
      // on such servers two concurrent writers of one key can still both "win" (last write
      // stays). Repository keys are written once by the daemon that owns the database.
      if ((await this.head(key)) !== null) {
        throw new PitrdError('OBJECT_EXISTS', `object ${key} already exists`, { context: { key, location: this.location } });
      }
    }
    const base: PutObjectCommandInput = { Bucket: this.bucket, Key, ...(opts.ifNoneMatch ? { IfNoneMatch: '*' } : {}) };
    try {
      if (Buffer.isBuffer(body) && body.length <= SINGLE_PUT_MAX) {
        if (opts.contentLength !== undefined && opts.contentLength !== body.length) {
          throw new PitrdError('VALIDATION_ERROR', `object ${key}: body had ${body.length} bytes but contentLength said ${opts.contentLength}`, {
            context: { key, size: body.length, contentLength: opts.contentLength },
          });
        }
        const { s3, client } = await this.sdk();
        await client.send(new s3.PutObjectCommand({ ...base, Body: body, ContentLength: body.length }));
        return { key, size: body.length };
      }
      const length = Buffer.isBuffer(body) ? body.length : opts.contentLength;
      const partSize = this.opts.partSize ?? choosePartSize(length ?? opts.sizeHint, this.opts.maxObjectSize);
      let size = 0;
      const counter = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          size += chunk.length;
          cb(null, chunk);
        },
      });
      const source = Buffer.isBuffer(body) ? Readable.from([body]) : body;
      source.on('error', (e) => counter.destroy(e));
      source.pipe(counter);
      const { client } = await this.sdk();
      const Upload = await loadUpload();
      const upload = new Upload({
        client,
        params: { ...base, Body: counter, ...(length !== undefined ? { ContentLength: length } : {}) },
        partSize,
        // Memory is about (queueSize + 1) x partSize: keep big parts to one in flight.
        queueSize: partSize <= 16 * MIB ? 3 : 1,
        leavePartsOnError: false,
      });
      await upload.done();
      if (length !== undefined && size !== length) {
        throw new PitrdError('VALIDATION_ERROR', `object ${key}: body had ${size} bytes but contentLength said ${length}`, {
          context: { key, size, contentLength: length },
        });
      }
      return { key, size };
    } catch (err) {
      // Release whatever produces the body (a file, a pg_basebackup pipe): it cannot be replayed.
      if (!Buffer.isBuffer(body)) body.destroy();
      throw this.fail(err, 'put', key);
    }
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    const Key = this.k(key);
    if (range) {
      if (!Number.isInteger(range.start) || range.start < 0 || (range.end !== undefined && (!Number.isInteger(range.end) || range.end < range.start))) {
        throw new PitrdError('VALIDATION_ERROR', `invalid byte range ${JSON.stringify(range)} for object ${key}`, { context: { key, range } });
      }
    }
    try {
      const { s3, client } = await this.sdk();
      const out = await client.send(
        new s3.GetObjectCommand({
          Bucket: this.bucket,
          Key,
          ...(range ? { Range: `bytes=${range.start}-${range.end ?? ''}` } : {}),
        }),
      );
      const body = out.Body;
      if (!(body instanceof Readable)) {
        throw new PitrdError('STORAGE_ERROR', `S3 get of ${key} in ${this.location} returned no stream body`, { context: { key } });
      }
      if (range) {
        // Some S3-compatible servers ignore or widen a Range (s3rver serves the whole object
        // for bytes=0-0): trust only what Content-Range says was sent, and cut the rest here.
        const m = /^bytes (\d+)-(\d+)\//.exec(out.ContentRange ?? '');
        const servedStart = m ? Number(m[1]) : 0;
        const servedEnd = m ? Number(m[2]) : Infinity;
        const wantEnd = range.end ?? Infinity;
        if (servedStart > range.start) {
          body.destroy();
          throw new PitrdError('STORAGE_ERROR', `S3 get of ${key}: server sent bytes from ${servedStart}, asked from ${range.start}`, {
            context: { key, range, contentRange: out.ContentRange },
          });
        }
        if (servedStart !== range.start || servedEnd > wantEnd) {
          const cut = sliceStream(range.start - servedStart, wantEnd === Infinity ? undefined : wantEnd - servedStart);
          body.on('error', (e) => cut.destroy(this.fail(e, 'get', key)));
          cut.on('close', () => body.destroy());
          return body.pipe(cut);
        }
      }
      return body;
    } catch (err) {
      throw this.fail(err, 'get', key);
    }
  }

  async getBuffer(key: string, range?: ByteRange): Promise<Buffer> {
    const stream = await this.get(key, range);
    try {
      return await streamToBuffer(stream);
    } catch (err) {
      throw this.fail(err, 'get', key);
    }
  }

  async head(key: string): Promise<ObjectInfo | null> {
    try {
      const { s3, client } = await this.sdk();
      const out = await client.send(new s3.HeadObjectCommand({ Bucket: this.bucket, Key: this.k(key) }));
      return { key, size: out.ContentLength ?? 0, lastModified: out.LastModified ?? new Date(0) };
    } catch (err) {
      const mapped = this.fail(err, 'head', key);
      if (mapped.code === 'OBJECT_NOT_FOUND') return null;
      throw mapped;
    }
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListPage> {
    validatePrefix(prefix);
    const limit = Math.max(1, Math.min(opts.limit ?? 1000, 1000));
    try {
      const { s3, client } = await this.sdk();
      const out = await client.send(
        new s3.ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: this.prefix + prefix,
          MaxKeys: limit,
          ...(opts.token ? { ContinuationToken: opts.token } : {}),
        }),
      );
      const objects: ObjectInfo[] = (out.Contents ?? []).map((o) => ({
        key: (o.Key ?? '').slice(this.prefix.length),
        size: o.Size ?? 0,
        lastModified: o.LastModified ?? new Date(0),
      }));
      const page: ListPage = { objects };
      if (out.IsTruncated && out.NextContinuationToken) page.nextToken = out.NextContinuationToken;
      return page;
    } catch (err) {
      throw this.fail(err, 'list', prefix);
    }
  }

  listAll(prefix: string): AsyncIterable<ObjectInfo> {
    return listAllPages((p, o) => this.list(p, o), prefix);
  }

  async delete(keys: string[]): Promise<void> {
    const full = keys.map((k) => this.k(k));
    for (let i = 0; i < full.length; i += DELETE_BATCH) {
      const batch = full.slice(i, i + DELETE_BATCH);
      let out;
      try {
        const { s3, client } = await this.sdk();
        out = await client.send(
          new s3.DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }),
        );
      } catch (err) {
        throw this.fail(err, 'delete', batch[0] ?? '');
      }
      const errors = (out.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (errors.length > 0) {
        const first = errors[0];
        throw new PitrdError(
          'STORAGE_ERROR',
          `S3 delete of ${errors.length} object(s) in ${this.location} failed, first ${first?.Key}: ${first?.Code} ${first?.Message ?? ''}`,
          { context: { keys: errors.map((e) => (e.Key ?? '').slice(this.prefix.length)), s3Code: first?.Code } },
        );
      }
    }
  }

  async signedUrl(key: string, expiresInSeconds: number): Promise<SignedUrl> {
    const Key = this.k(key);
    // SigV4 presigned URLs are valid for at most 7 days.
    const expiresIn = Math.max(1, Math.min(Math.ceil(expiresInSeconds), 7 * 24 * 3600));
    const issuedAt = Date.now();
    try {
      const { s3, client } = await this.sdk();
      const getSignedUrl = await loadGetSignedUrl();
      const url = await getSignedUrl(client, new s3.GetObjectCommand({ Bucket: this.bucket, Key }), { expiresIn });
      return { url, expiresAt: new Date(issuedAt + expiresIn * 1000) };
    } catch (err) {
      throw this.fail(err, 'signedUrl', key);
    }
  }

  async close(): Promise<void> {
    // Never loads the SDK just to close; a load under way is awaited so its client is released.
    const pending = this.sdkPromise;
    if (pending === undefined) return;
    const sdk = await pending.catch(() => undefined);
    sdk?.client.destroy();
  }
}
