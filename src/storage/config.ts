import { PitrdError } from '../errors.js';
import { FsObjectStore, type FsObjectStoreOptions } from './fs.js';
import { S3ObjectStore, type S3ObjectStoreOptions } from './s3.js';
import type { ObjectStore } from './types.js';

/**
 * Where the repository lives: a plain object the config module maps its validated file onto.
 * Each variant is its driver's own options plus the `type` tag, so a new driver option is
 * declared once, where it is used.
 */
export type FsStorageConfig = { type: 'fs' } & FsObjectStoreOptions;
export type S3StorageConfig = { type: 's3' } & S3ObjectStoreOptions;

export type StorageConfig = FsStorageConfig | S3StorageConfig;

export function createObjectStore(cfg: StorageConfig): ObjectStore {
  switch (cfg.type) {
    case 'fs':
      return new FsObjectStore(cfg);
    case 's3':
      return new S3ObjectStore(cfg);
    default: {
      const t = (cfg as { type?: unknown }).type;
      throw new PitrdError('CONFIG_INVALID', `unknown storage type ${JSON.stringify(t)} (expected "fs" or "s3")`, {
        context: { key: 'storage.type' },
      });
    }
  }
}
