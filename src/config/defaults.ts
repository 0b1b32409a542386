/**
 * A protected database's defaults, in one place: the configuration file's schema fills them in
 * for `databases[]`, and the daemon's services give them to databases registered through the API
 * (which have no configuration entry), so both kinds behave alike unless told otherwise.
 */
export const DATABASE_DEFAULTS = {
  pitr: { enabled: true, retention_days: 7, synchronous: false },
  /** Base backups: daily at 03:00 (cron, the host's time zone). */
  backup: { schedule: '0 3 * * *' },
  /** Expiry: daily at 03:30, after the base backup; never below two completed full backups. */
  retention: { schedule: '30 3 * * *', min_full_backups: 2 },
  /**
   * Restore drills: none scheduled unless `drill_schedule` is set; with a schedule, no successful
   * drill in this many hours raises the drill_stale alert (a weekly drill plus a day).
   */
  drill: { check_sql: [] as readonly string[], max_age_hours: 192 },
} as const;
