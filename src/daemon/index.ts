export { startDaemon } from './daemon.js';
export type { Daemon, StartDaemonOptions } from './daemon.js';
export { DatabaseManager } from './manager.js';
export { DatabaseRegistryStore, registryKey, REGISTRY_PREFIX } from './registry.js';
export type { RegisteredDatabase } from './registry.js';
export { BackupManager, DOWNLOAD_URL_TTL_S } from './backups.js';
export type { UrlSigner } from './backups.js';
export { HealthMonitor, DEFAULT_THRESHOLDS } from './health.js';
