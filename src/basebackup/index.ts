/**
 * Base backups: BASE_BACKUP streamed archive by archive into `projects/{project}/databases/{db}/backups/{id}/`
 * (base.tar{ext}, {tablespace oid}.tar{ext}, backup_manifest{ext}) through the repository's
 * compression/encryption/sha256, committed by backup.json `completed`. `createBackupService`
 * adds the per-database lock, progress and cron schedules; `runBackup` is one backup.
 */
export { createBackupService } from './service.js';
export type { BackupService, BackupServiceOptions, BackupDatabaseConfig, StartBackupOptions, StartedBackup } from './service.js';
export { runBackup } from './runner.js';
export type { RunBackupOptions, PitrWalCheck } from './runner.js';
export type { BackupProgress, BackupPhase } from './progress.js';
export { fractionDone } from './progress.js';
export { BackupScheduler, DEFAULT_SCHEDULE, assertSchedule } from './scheduler.js';
export { parseBackupLabel, parseManifestWalRanges, segmentsBetween, newBackupId } from './metadata.js';
export type { BackupLabel, WalRange } from './metadata.js';
export { TarScanner } from './tar.js';
export type { TarEntry } from './tar.js';
export { neededSegments } from './wal-wait.js';
export type { IsWalArchived } from './wal-wait.js';
