import type { Command } from 'commander';
import { repositoryOptions, sourceConnection, storageOptions, type Config } from '../../config/index.js';
import { createBackupService, fractionDone } from '../../basebackup/index.js';
import { PitrdError } from '../../errors.js';
import { openRepository } from '../../repository/index.js';
import { createObjectStore } from '../../storage/index.js';
import { loadCommandConfig } from '../context.js';
import { reporting } from '../report.js';
import { registerBackupManagement } from './backup-manage.js';
import { createProgress, formatBytes, percent } from '../progress.js';

interface BackupCliOptions {
  database?: string;
  label?: string;
  selfContained?: boolean;
  walTimeout?: string;
  json?: boolean;
}

/**
 * `pitrd backup [--database NAME]`: one base backup of a configured database, now, from the CLI.
 *
 * With PITR enabled in the config the backup carries no WAL and completes once the archive holds
 * its WAL, so a receiver (`pitrd serve`) must be running; `--self-contained` puts the WAL inside
 * the backup instead, so it restores on its own. The per-database lock is per process: run
 * backups from the daemon's API when a daemon protects the database.
 */
export function register(program: Command): void {
  const backup = program.command('backup');
  registerBackupManagement(backup);
  backup
    .description('take a base backup of a configured database now; `backup delete | pin | unpin ID` manage one')
    .option('-d, --database <name>', 'database name from the config (default: the only one)')
    .option('--label <text>', 'label recorded in backup.json')
    .option('--self-contained', 'include the WAL the backup needs instead of waiting for the archive')
    .option('--wal-timeout <seconds>', 'PITR mode: how long to wait for the backup\'s WAL to be archived', '300')
    .option('--json', 'print the completed backup record as JSON')
    .action(reporting(async function (this: Command, o: BackupCliOptions) {
      const config = loadCommandConfig(this);
      const db = pickDatabase(config, o.database);
      const walTimeoutS = Number(o.walTimeout);
      if (!Number.isFinite(walTimeoutS) || walTimeoutS <= 0) {
        throw new PitrdError('VALIDATION_ERROR', `--wal-timeout: expected a positive number of seconds, got "${o.walTimeout}"`);
      }
      const store = createObjectStore(storageOptions(config));
      try {
        const repository = await openRepository(store, repositoryOptions(config));
        const service = createBackupService({
          repository,
          databases: {
            [db.name]: {
              connection: { ...sourceConnection(db), database: db.connection.dbname },
              schedule: null,
              pitr: o.selfContained ? null : db.pitr.enabled,
              walTimeoutMs: walTimeoutS * 1000,
              retentionDays: db.pitr.retention_days,
              project: db.project,
            },
          },
        });
        const started = service.start(db.name, { type: 'manual', label: o.label ?? null });
        const progress = createProgress({ json: o.json === true });
        let phase: string | null = null;
        // The service exposes progress as a readable state, not events: sample it.
        const timer = o.json
          ? null
          : setInterval(() => {
              const p = service.progress(db.name);
              if (!p) return;
              if (p.phase !== phase) progress.phase(`backup ${started.id}: ${p.phase.replace(/_/g, ' ')}`);
              phase = p.phase;
              const f = fractionDone(p);
              progress.update(`backup ${started.id}: ${p.phase.replace(/_/g, ' ')} ${formatBytes(p.bytesDone)}${p.bytesTotalEstimate === null ? '' : ` / ${formatBytes(p.bytesTotalEstimate)}`} ${f === null ? '' : percent(p.bytesDone, p.bytesTotalEstimate)}`);
            }, 200);
        let record;
        try {
          record = await started.done;
        } finally {
          if (timer) clearInterval(timer);
          progress.done();
        }
        const done = record;
        return {
          data: done,
          human: () =>
            `backup ${done.id} completed: ${done.start_lsn} .. ${done.stop_lsn} on timeline ${done.timeline}, stop time ${done.stop_time}\n` +
            `  ${done.original_size} bytes read, ${done.stored_size} bytes stored, WAL ${done.wal_included ? 'included' : 'in the archive'}`,
        };
      } finally {
        await store.close();
      }
    }));
}

function pickDatabase(config: Config, name: string | undefined): Config['databases'][number] {
  if (name !== undefined) {
    const db = config.databases.find((d) => d.name === name);
    if (!db) throw new PitrdError('DATABASE_NOT_FOUND', `--database: no database "${name}" in the config (configured: ${config.databases.map((d) => d.name).join(', ') || 'none'})`, { context: { database: name } });
    return db;
  }
  if (config.databases.length !== 1) {
    throw new PitrdError('VALIDATION_ERROR', `pass --database: the config has ${config.databases.length === 0 ? 'no databases' : `several (${config.databases.map((d) => d.name).join(', ')})`}`);
  }
  return config.databases[0]!;
}
