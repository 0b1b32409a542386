export { Sha256Meter } from './checksum.js';
export {
  SUPPORTED_COMPRESSION,
  assertCompressionSupported,
  compressionExtension,
  createCompressor,
  createDecompressor,
} from './compression.js';
export { EncryptStream, DecryptStream, keyFingerprint, looksEncrypted, ENC_MAGIC, ENC_VERSION } from './encryption.js';
