import type { DatabaseConfig } from '../config/index.js';
import type { RetentionPolicy } from './types.js';

/**
 * A database's policy from its config. The window is the longer of pitr.retention_days and
 * retention.max_age_days: backups cannot go sooner than the recovery window needs them, and
 * keeping a backup longer only makes sense with its WAL.
 */
export function policyFromConfig(db: Pick<DatabaseConfig, 'pitr' | 'retention'>): RetentionPolicy {
  return {
    retentionDays: Math.max(db.pitr.retention_days, db.retention.max_age_days ?? 0),
    minFullBackups: db.retention.min_full_backups,
  };
}
