import type { Readable } from 'node:stream';

/**
 * The one interface every storage driver implements (pgBackRest's Storage). Keys are
 * '/'-separated relative paths, never starting with '/', never containing '..'.
 *
 * Drivers store bytes as given: compression, encryption and checksums are transforms layered
 * above (see ./transform), so a driver never sees plaintext it would have to protect.
 */
export interface ObjectInfo {
  key: string;
  /** Stored size in bytes. */
  size: number;
  lastModified: Date;
}

export interface PutOptions {
  /** Known length of the body, when the caller has it (lets drivers skip multipart). */
  contentLength?: number;
  /** Fail with OBJECT_EXISTS instead of replacing an existing object. */
  ifNoneMatch?: boolean;
  /**
   * Upper bound of the body's length when the exact length is unknown (e.g. a compressed
   * stream of a known input): lets the s3 driver pick a small multipart part size.
   */
  sizeHint?: number;
}

export interface PutResult {
  key: string;
  size: number;
}

export interface ByteRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, inclusive; absent = to the end. */
  end?: number;
}

export interface ListOptions {
  /** Continuation token from a previous page. */
  token?: string;
  /** Max keys in this page (drivers may cap it, S3 at 1000). */
  limit?: number;
}

export interface ListPage {
  objects: ObjectInfo[];
  /** Present when more keys follow. */
  nextToken?: string;
}

export interface SignedUrl {
  url: string;
  expiresAt: Date;
}

/**
 * What a driver can do beyond the common interface, declared by the driver so callers ask for a
 * capability instead of testing which driver they hold (pgBackRest's storage feature flags).
 */
export interface StoreCapabilities {
  /**
   * putFile(): a complete local file becomes an object without its bytes passing through JS (a
   * hard link on the store's own filesystem, a kernel copy elsewhere).
   */
  readonly linkFiles: boolean;
  /** get()/getBuffer() with a ByteRange transfer only the bytes asked for. */
  readonly rangedReads: boolean;
  /**
   * signedUrl() is answered by the storage service itself (S3 presigning). Without it, a download
   * link points at pitrd's own API, which verifies it with a secret that must outlive restarts.
   */
  readonly presign: boolean;
  /**
   * Listing a prefix costs about what it returns (an indexed key space, S3). Without it a listing
   * reads the whole directory the prefix falls in, so a few head() calls of known keys are cheaper.
   */
  readonly indexedListing: boolean;
}

export interface ObjectStore {
  readonly capabilities: StoreCapabilities;
  /** Human-readable location for logs (no credentials). */
  readonly location: string;
  /** Atomic to readers: an object is either absent or whole. */
  put(key: string, body: Buffer | Readable, opts?: PutOptions): Promise<PutResult>;
  /** Throws OBJECT_NOT_FOUND when absent. */
  get(key: string, range?: ByteRange): Promise<Readable>;
  getBuffer(key: string, range?: ByteRange): Promise<Buffer>;
  /** null when absent. */
  head(key: string): Promise<ObjectInfo | null>;
  /** Keys under a prefix in lexicographic order, one page. */
  list(prefix: string, opts?: ListOptions): Promise<ListPage>;
  /** Every key under a prefix, following pages. */
  listAll(prefix: string): AsyncIterable<ObjectInfo>;
  /** Missing keys are not an error (deletion is idempotent). */
  delete(keys: string[]): Promise<void>;
  /** A URL that lets anyone holding it GET the stored bytes until it expires. */
  signedUrl(key: string, expiresInSeconds: number): Promise<SignedUrl>;
  /**
   * Present exactly when `capabilities.linkFiles`: put() of a local file that is complete,
   * durable and never written again, its bytes stored as they are.
   */
  putFile?(key: string, path: string, opts?: PutOptions): Promise<PutResult>;
  close(): Promise<void>;
}

/** How objects are transformed on their way into the store. */
export interface CodecOptions {
  compression: 'none' | 'gzip' | 'zstd' | 'lz4';
  /** Compression level; driver default when absent. */
  level?: number;
  /** 32-byte AES-256-GCM repository key; absent = not encrypted. */
  key?: Buffer;
}

/** CodecStore.put's options: the driver's, plus what the codec layer itself can use. */
export interface EncodedPutOptions extends PutOptions {
  /**
   * sha256 (hex) of the original bytes, when the caller has already computed it (the WAL
   * archive needs it before writing, to compare with what is stored): a Buffer body is then not
   * hashed a second time and this value is returned as-is; a stream body is still hashed and a
   * mismatch fails the put with CHECKSUM_MISMATCH (the object is removed).
   */
  sha256?: string;
}

export interface EncodedPutResult extends PutResult {
  /** Bytes before compression/encryption. */
  originalSize: number;
  /** sha256 (hex) of the original bytes. */
  sha256: string;
}

export interface GetDecodedOptions {
  /** When given, a mismatch of the original bytes' sha256 is CHECKSUM_MISMATCH. */
  sha256?: string;
}

/**
 * An ObjectStore seen through the repository's transforms: what goes in is compressed,
 * encrypted and checksummed; what comes out is verified and decoded, or fails loudly
 * (tampered, truncated, wrong key: each its own error code).
 */
export interface CodecStore {
  readonly store: ObjectStore;
  readonly codec: Readonly<CodecOptions>;
  put(key: string, body: Buffer | Readable, opts?: EncodedPutOptions): Promise<EncodedPutResult>;
  /** Decoded stream; verification failures surface as the stream's error. */
  get(key: string, opts?: GetDecodedOptions): Promise<Readable>;
  getBuffer(key: string, opts?: GetDecodedOptions): Promise<Buffer>;
}
