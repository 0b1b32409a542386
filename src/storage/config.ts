import { PitrdError } from '../errors.js';
import { FsObjectStore } from './fs.js';
import { S3ObjectStore } from './s3.js';
import type { ObjectStore } from './types.js';

/** Where the repository lives: a plain object the config module maps its validated file onto. */
export type FsStorageConfig = {
  type: 'fs';
  path: string;
  /** HMAC secret for signed URLs served by the daemon's API. */
  signingSecret?: string;
  /** The daemon's externally reachable base URL, e.g. http://backup-host:8432. */
  publicBaseUrl?: string;
};

export type S3StorageConfig = {
  type: 's3';
  endpoint?: string;
  region: string;
  bucket: string;
  prefix?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  forcePathStyle?: boolean;
  connectionTimeoutMs?: number;
  requestTimeoutMs?: number;
  maxAttempts?: number;
};

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
