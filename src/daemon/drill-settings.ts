import { DATABASE_DEFAULTS, type Config } from '../config/index.js';
import type { DatabaseEntry, DrillSettings } from '../service/index.js';

/**
 * A database's restore-drill settings: its configuration entry's `drill_schedule` and `drill`
 * (max_age_hours defaults to DATABASE_DEFAULTS.drill's with a schedule, unwatched without one).
 * Databases registered through the API have no entry: drills on demand only, no alert for age.
 */
export function drillSettings(config: Config, e: DatabaseEntry): DrillSettings {
  const cfg = e.source === 'config' ? config.databases.find((d) => d.project === e.project && d.name === e.name) : undefined;
  const schedule = cfg?.drill_schedule ?? null;
  const maxAge = cfg?.drill.max_age_hours ?? (schedule !== null ? DATABASE_DEFAULTS.drill.max_age_hours : null);
  return { schedule, checkSql: cfg?.drill.check_sql ?? DATABASE_DEFAULTS.drill.check_sql, maxAgeHours: maxAge };
}
