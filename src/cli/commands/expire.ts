import type { Command } from 'commander';
import { openDatabases } from '../../catalog/index.js';
import { PitrdError } from '../../errors.js';
import { policyFromConfig, runExpiry, type ExpiryReport } from '../../retention/index.js';
import { loadCommandConfig } from '../context.js';
import { reporting, type Outcome } from '../report.js';

/** What a report deletes (or would), one line per backup or WAL range, each with its reason. */
function human(r: ExpiryReport): string {
  const verb = r.dry_run ? 'would delete' : 'deleted';
  const lines = [`database ${r.database}: window starts ${r.plan.window_start}; ${verb} ${r.plan.delete_backups.length} backup(s) and ${r.plan.delete_wal.reduce((n, w) => n + w.count, 0)} WAL segment(s)`];
  for (const b of r.plan.delete_backups) lines.push(`  ${verb} backup ${b.id} (${b.status}, stop ${b.stop_time ?? '-'}): ${b.reason}`);
  for (const w of r.plan.delete_wal) lines.push(`  ${verb} WAL ${w.first} .. ${w.last} (${w.count} segment(s), timeline ${w.timeline}): ${w.reason}`);
  for (const b of r.plan.keep_backups) lines.push(`  keep backup ${b.id} (${b.status}): ${b.reasons.join('; ')}`);
  if (r.resumed.backups.length || r.resumed.wal_segments) lines.push(`  finished an interrupted earlier run: ${r.resumed.backups.length} backup(s), ${r.resumed.wal_segments} segment(s)`);
  return lines.join('\n');
}

/**
 * `pitrd expire`: apply the retention policy of the configured databases now (the daemon does it
 * on `retention.schedule`). `--dry-run` prints what would go and why, deleting nothing. The policy
 * is the config's, so a database registered through the API is expired by its daemon
 * (`POST …/retention/run`), not here.
 */
export function register(program: Command): void {
  program
    .command('expire')
    .description("apply the configured retention policy now: delete expired base backups and the WAL only they needed (--dry-run: print what and why)")
    .option('--database <name>', 'database from the config (default: every configured database the repository holds)')
    .option('--dry-run', 'print what would be deleted and why; delete nothing')
    .option('--json', 'print the expiry reports as JSON')
    .action(
      reporting(async function (this: Command, o: { database?: string; dryRun?: boolean }): Promise<Outcome> {
        const config = loadCommandConfig(this);
        if (o.database !== undefined && !config.databases.some((d) => d.name === o.database)) {
          throw new PitrdError('DATABASE_NOT_FOUND', `--database: no database "${o.database}" in the config (its retention policy is the config's; a database registered through the API is expired by its daemon)`, {
            context: { database: o.database },
          });
        }
        const { repo, store, databases } = await openDatabases(config, o.database);
        try {
          const reports: ExpiryReport[] = [];
          for (const db of config.databases) {
            if (!databases.some((r) => r.project === db.project && r.name === db.name)) continue;
            reports.push(await runExpiry(repo, db, policyFromConfig(db), { dryRun: o.dryRun === true }));
          }
          if (reports.length === 0) throw new PitrdError('DATABASE_NOT_FOUND', 'none of the configured databases is in the repository yet', { context: { configured: config.databases.map((d) => d.name) } });
          return { data: { dry_run: o.dryRun === true, databases: reports }, human: () => reports.map(human).join('\n') };
        } finally {
          await store.close();
        }
      }),
    );
}
