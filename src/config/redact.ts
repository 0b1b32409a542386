import type { Config } from './load.js';
import { REDACTED } from './secrets.js';

/**
 * A plain JSON copy of the config safe to print: passwords, S3 credentials and the encryption
 * key are replaced by a marker (the key is never even copied: it is non-enumerable).
 */
export function redactConfig(config: Config): Record<string, unknown> {
  const storage: Record<string, unknown> = { ...config.storage };
  for (const k of ['access_key_id', 'secret_access_key']) if (storage[k] !== undefined) storage[k] = REDACTED;
  return {
    storage,
    compression: { ...config.compression },
    encryption: {
      enabled: config.encryption.enabled,
      ...(config.encryption.key_file !== undefined ? { key_file: config.encryption.key_file } : {}),
      ...(config.encryption.enabled ? { key: REDACTED } : {}),
    },
    spool_dir: config.spool_dir,
    ...(config.restore_dir !== undefined ? { restore_dir: config.restore_dir } : {}),
    api: structuredClone(config.api),
    databases: config.databases.map((db) => {
      const copy = structuredClone(db) as { connection: Record<string, unknown> };
      if (copy.connection.password !== undefined) copy.connection.password = REDACTED;
      return copy;
    }),
    ...(config.source !== undefined ? { source: config.source } : {}),
  };
}
