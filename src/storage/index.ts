/**
 * storage: where repository bytes live. `createObjectStore(cfg)` gives a driver (fs or s3)
 * implementing ObjectStore; `createCodecStore(store, codec)` layers gzip, AES-256-GCM and
 * sha256 verification over it. verifyFsSignedUrl() is for the API route that serves the fs
 * driver's signed URLs.
 */
export type * from './types.js';
export { FsObjectStore, type FsObjectStoreOptions } from './fs.js';
export { DIRECT_IO_MODES, type DirectIoMode } from './direct-choice.js';
export { S3ObjectStore, type S3ObjectStoreOptions } from './s3.js';
export { createObjectStore, type StorageConfig, type FsStorageConfig, type S3StorageConfig } from './config.js';
export { signFsUrl, verifyFsSignedUrl, FS_SIGNED_URL_PATH, type VerifiedFsUrl } from './signed-url.js';
export { validateKey, validatePrefix } from './keys.js';
export { choosePartSize } from './part-size.js';
export { streamToBuffer, toReadable } from './streams.js';
export { createCodecStore, mapDecodeError } from './codec-store.js';
export * from './transform/index.js';
