export { Sha256Meter } from './checksum.js';
export {
  SUPPORTED_COMPRESSION,
  assertCompressionSupported,
  compressionExtension,
  createCompressor,
  createDecompressor,
} from './compression.js';
export { EncryptStream, DecryptStream, keyFingerprint, looksEncrypted, ENC_MAGIC, ENC_VERSION } from './encryption.js';
export { ParallelGzip, PARALLEL_GZIP_BLOCK, PARALLEL_GZIP_WINDOW } from './parallel-gzip.js';
export type { ParallelGzipOptions } from './parallel-gzip.js';
