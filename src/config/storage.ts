import type { StorageConfig as DriverStorageConfig } from '../storage/index.js';
import type { Config } from './load.js';

/**
 * The config's `storage` section (snake_case, as written in YAML) in the shape the storage
 * drivers take: `createObjectStore(storageOptions(config))`.
 */
export function storageOptions(config: Config): DriverStorageConfig {
  const s = config.storage;
  if (s.type === 'fs') return { type: 'fs', path: s.path, directIo: s.direct_io };
  return {
    type: 's3',
    region: s.region,
    bucket: s.bucket,
    forcePathStyle: s.force_path_style,
    ...(s.endpoint !== undefined ? { endpoint: s.endpoint } : {}),
    ...(s.prefix !== '' ? { prefix: s.prefix } : {}),
    ...(s.access_key_id !== undefined ? { accessKeyId: s.access_key_id } : {}),
    ...(s.secret_access_key !== undefined ? { secretAccessKey: s.secret_access_key } : {}),
  };
}

/** The repository options the config implies: `openRepository(store, repositoryOptions(config))`. */
export function repositoryOptions(config: Config): { key?: Buffer; compression: { algorithm: Config['compression']['algorithm']; level?: number } } {
  return {
    compression: { algorithm: config.compression.algorithm, ...(config.compression.level !== undefined ? { level: config.compression.level } : {}) },
    ...(config.encryption.key ? { key: config.encryption.key } : {}),
  };
}
