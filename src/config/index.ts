export { loadConfig, parseConfig, parseConfigText } from './load.js';
export type { Config, EncryptionConfig, LoadConfigOptions, ParseOptions } from './load.js';
export { redactConfig } from './redact.js';
export { repositoryOptions, storageOptions } from './storage.js';
export { connectionPassword, parseEncryptionKey, REDACTED } from './secrets.js';
export { sourceConnection, sourceTls } from './source.js';
export { ENV_SHORTCUTS } from './env.js';
export { DATABASE_DEFAULTS } from './defaults.js';
export { ConfigSchema, COMPRESSION_ALGORITHMS, SSL_MODES, DATABASE_NAME_RE } from './schema.js';
export type {
  ApiConfig,
  CompressionAlgorithm,
  CompressionConfig,
  ConnectionConfig,
  DatabaseConfig,
  FsStorageConfig,
  S3StorageConfig,
  StorageConfig,
} from './schema.js';
