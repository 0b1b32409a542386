export { backupRoutes } from './routes.js';
export type { BackupDownloadView, BackupService, BackupView, RetentionRunView } from './types.js';
