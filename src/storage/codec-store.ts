/**
 * CodecStore: an ObjectStore seen through the repository's transforms.
 *
 *   put: original bytes -> sha256 meter -> compressor -> encryptor -> store
 *        (no meter for a Buffer whose sha256 the caller passes: it was hashed once already)
 *   get: store -> decryptor -> decompressor -> sha256 check -> caller
 *
 * Everything is streamed with backpressure, so memory stays at a few chunks whatever the
 * object size (Buffers, which the caller already holds, are encoded to a Buffer and stored with
 * one request).
 *
 * Self-verification without external metadata: encrypted objects are authenticated frame by
 * frame and flag their last frame (tamper/truncation detected); gzip objects carry gzip's CRC32
 * and length trailer (corruption/truncation detected by zlib). Plain objects ('none', no key)
 * are stored byte for byte, so they stay usable by tools outside pitrd; for those the sha256
 * returned by put() (kept in the repository metadata) is the check.
 */
import { Readable, PassThrough, type Transform } from 'node:stream';
import { PitrdError, isPitrdError } from '../errors.js';
import { Sha256Meter } from './transform/checksum.js';
import { assertCompressionSupported, createCompressor, createDecompressor, ZLIB_TRUNCATED } from './transform/compression.js';
import { DecryptStream, EncryptStream } from './transform/encryption.js';
import { streamToBuffer, toReadable } from './streams.js';
import type { CodecOptions, CodecStore, EncodedPutOptions, EncodedPutResult, GetDecodedOptions, ObjectStore, PutOptions } from './types.js';

export function createCodecStore(store: ObjectStore, codec: CodecOptions): CodecStore {
  assertCompressionSupported(codec.compression);
  if (codec.key !== undefined) new EncryptStream(codec.key); // validates the key length early
  return new TransformingStore(store, Object.freeze({ ...codec }));
}

class TransformingStore implements CodecStore {
  constructor(
    readonly store: ObjectStore,
    readonly codec: Readonly<CodecOptions>,
  ) {}

  private encoders(): Transform[] {
    const stages: Transform[] = [];
    if (this.codec.compression !== 'none') stages.push(createCompressor(this.codec));
    if (this.codec.key) stages.push(new EncryptStream(this.codec.key));
    return stages;
  }

  private decoders(key: string): Transform[] {
    const stages: Transform[] = [];
    if (this.codec.key) stages.push(new DecryptStream(this.codec.key, key));
    if (this.codec.compression !== 'none') stages.push(createDecompressor(this.codec));
    return stages;
  }

  async put(key: string, body: Buffer | Readable, opts: EncodedPutOptions = {}): Promise<EncodedPutResult> {
    if (Buffer.isBuffer(body) && opts.sha256 !== undefined) return this.putHashedBuffer(key, body, opts, opts.sha256);
    // A stream with a caller-given sha256 is still metered, and verified against it.
    const meter = new Sha256Meter(opts.sha256 === undefined ? undefined : { sha256: opts.sha256, key });
    const stages = [meter, ...this.encoders()];
    const encoded = chain(toReadable(body), stages, key);
    const passthrough = stages.length === 1;
    let res;
    if (Buffer.isBuffer(body)) {
      // Small in practice (WAL segments, metadata): one request, and a known length for S3.
      const buf = await streamToBuffer(encoded);
      res = await this.store.put(key, buf, { ...(opts.ifNoneMatch ? { ifNoneMatch: true } : {}) });
    } else {
      const putOpts: PutOptions = { ...(opts.ifNoneMatch ? { ifNoneMatch: true } : {}) };
      if (opts.contentLength !== undefined) {
        // The stored length is only known exactly without transforms; otherwise give the
        // driver an upper bound for sizing multipart parts (gzip may expand incompressible
        // data very slightly; frames add 20 bytes per 64 KiB).
        if (passthrough) putOpts.contentLength = opts.contentLength;
        else putOpts.sizeHint = Math.ceil(opts.contentLength * 1.01) + 1024 * 1024;
      } else if (opts.sizeHint !== undefined) {
        putOpts.sizeHint = passthrough ? opts.sizeHint : Math.ceil(opts.sizeHint * 1.01) + 1024 * 1024;
      }
      // The chain can fail before the driver attaches its own listeners (e.g. while the fs
      // driver is still opening its temp file): without a listener here that error would be
      // an uncaught exception. Record it, and never report success for a failed body.
      let bodyError: unknown;
      encoded.on('error', (err) => {
        bodyError ??= err;
      });
      try {
        res = await this.store.put(key, encoded, putOpts);
      } catch (err) {
        throw bodyError ?? err;
      }
      if (bodyError !== undefined) {
        await this.store.delete([key]).catch(() => undefined);
        throw bodyError;
      }
    }
    if (opts.contentLength !== undefined && meter.bytes !== opts.contentLength) {
      throw new PitrdError('VALIDATION_ERROR', `object ${key}: body had ${meter.bytes} bytes but contentLength said ${opts.contentLength}`, {
        context: { key, size: meter.bytes, contentLength: opts.contentLength },
      });
    }
    return { key, size: res.size, originalSize: meter.bytes, sha256: meter.sha256 };
  }

  /**
   * A Buffer whose sha256 the caller already has (a WAL segment: hashed once by the archive for
   * its conflict check): encode without the meter, so its bytes are hashed only once per put.
   */
  private async putHashedBuffer(key: string, body: Buffer, opts: EncodedPutOptions, sha256: string): Promise<EncodedPutResult> {
    if (opts.contentLength !== undefined && body.length !== opts.contentLength) {
      throw new PitrdError('VALIDATION_ERROR', `object ${key}: body had ${body.length} bytes but contentLength said ${opts.contentLength}`, {
        context: { key, size: body.length, contentLength: opts.contentLength },
      });
    }
    const stages = this.encoders();
    const encoded = stages.length === 0 ? body : await streamToBuffer(chain(toReadable(body), stages, key));
    const res = await this.store.put(key, encoded, { ...(opts.ifNoneMatch ? { ifNoneMatch: true } : {}) });
    return { key, size: res.size, originalSize: body.length, sha256: sha256.toLowerCase() };
  }

  async get(key: string, opts: GetDecodedOptions = {}): Promise<Readable> {
    const raw = await this.store.get(key);
    const stages: Transform[] = this.decoders(key);
    if (opts.sha256) stages.push(new Sha256Meter({ sha256: opts.sha256, key }));
    return chain(raw, stages, key);
  }

  async getBuffer(key: string, opts: GetDecodedOptions = {}): Promise<Buffer> {
    return streamToBuffer(await this.get(key, opts));
  }
}

/**
 * Pipe source through stages into a fresh PassThrough that only ever fails with a PitrdError
 * (zlib and socket errors are translated), and that tears the chain down if the reader stops.
 */
function chain(source: Readable, stages: Transform[], key: string): Readable {
  if (stages.length === 0) return source;
  const all: (Readable | Transform)[] = [source, ...stages];
  const out = new PassThrough();
  let failed = false;
  // Our own error wiring rather than stream.pipeline: pipeline settles when the last stage's
  // writable side finishes, before a flush-time error (gunzip's "unexpected end of file")
  // could reach it, which would leave that error unhandled and the reader hanging.
  const fail = (err: unknown): void => {
    if (failed) return;
    failed = true;
    for (const s of all) s.destroy();
    out.destroy(mapDecodeError(err, key));
  };
  for (let i = 0; i < all.length; i++) {
    const s = all[i] as Readable;
    s.on('error', fail);
    s.pipe((all[i + 1] as Transform | undefined) ?? out);
  }
  out.on('close', () => {
    // The reader stopped early: release the source (file handle, HTTP socket).
    if (!out.readableEnded && !failed) for (const s of all) s.destroy();
  });
  return out;
}

export function mapDecodeError(err: unknown, key: string): PitrdError {
  if (isPitrdError(err)) return err;
  const e = err as NodeJS.ErrnoException & { errno?: number };
  if (typeof e?.code === 'string' && e.code.startsWith('Z_')) {
    if (e.errno === ZLIB_TRUNCATED || /unexpected end/i.test(e.message)) {
      return new PitrdError('TRUNCATED_OBJECT', `object ${key}: compressed stream ends early (truncated)`, { context: { key }, cause: err });
    }
    return new PitrdError('COMPRESSION_ERROR', `object ${key}: cannot decompress (${e.message})`, { context: { key }, cause: err });
  }
  if (e?.code === 'ERR_STREAM_PREMATURE_CLOSE') {
    return new PitrdError('STORAGE_UNAVAILABLE', `object ${key}: the stream closed before its end`, { context: { key }, cause: err, retryable: true });
  }
  return new PitrdError('STORAGE_ERROR', `object ${key}: stream failed: ${e?.message ?? String(err)}`, { context: { key }, cause: err, retryable: true });
}
