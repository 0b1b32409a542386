import type { Command } from 'commander';
import type { BackupRecord } from '../../repository/index.js';
import { openOneDatabase } from '../../catalog/index.js';
import { loadCommandConfig } from '../context.js';
import { reporting, type Outcome } from '../report.js';

interface ManageOpts {
  database?: string;
  force?: boolean;
  json?: boolean;
}

/** Open the repository's database for one backup operation, and always close the store. */
async function withBackups<T>(cmd: Command, database: string | undefined, fn: (db: Awaited<ReturnType<typeof openOneDatabase>>['db']) => Promise<T>): Promise<T> {
  const { db, store } = await openOneDatabase(loadCommandConfig(cmd), database);
  try {
    return await fn(db);
  } finally {
    await store.close();
  }
}

/**
 * Commander gives options named like `backup`'s own (`--database`, `--json`) to `backup` even when
 * they follow the subcommand, so a subcommand reads its options with the parent's merged in.
 */
function optionsOf(cmd: Command): ManageOpts {
  return cmd.optsWithGlobals<ManageOpts>();
}

const brief = (b: BackupRecord) => ({ id: b.id, database: b.database, status: b.status, stop_time: b.stop_time, pinned: b.pinned, label: b.label });

/**
 * `pitrd backup delete | pin | unpin ID`: the operator's hands on one base backup. A pinned backup
 * is kept by retention whatever its age, and deleted only with `delete --force`. When a daemon
 * protects the database, prefer its API (`DELETE …/backups/:id`): the daemon refuses to delete a
 * backup it is still taking, which the CLI cannot know.
 */
export function registerBackupManagement(backup: Command): void {
  const dbOption = ['--database <name>', 'database in the repository (default: the only one)'] as const;
  backup
    .command('delete <id>')
    .description('delete a base backup from the repository (backup.json first, then its data); a pinned one only with --force')
    .option(...dbOption)
    .option('--force', 'also delete a pinned backup')
    .option('--json', 'print the deleted backup as JSON')
    .action(
      reporting(async function (this: Command, id: string): Promise<Outcome> {
        const o = optionsOf(this);
        const rec = await withBackups(this, o.database, (db) => db.backups.deleteRequested(id, { force: o.force === true }));
        return { data: { ...brief(rec), deleted: true }, human: () => `deleted backup ${rec.id} of database ${rec.database}${rec.pinned ? ' (it was pinned)' : ''}` };
      }),
    );
  for (const pinned of [true, false]) {
    const verb = pinned ? 'pin' : 'unpin';
    backup
      .command(`${verb} <id>`)
      .description(pinned ? 'keep a base backup whatever retention decides, until unpinned' : 'let retention expire a base backup again')
      .option(...dbOption)
      .option('--json', 'print the backup as JSON')
      .action(
        reporting(async function (this: Command, id: string): Promise<Outcome> {
          const rec = await withBackups(this, optionsOf(this).database, (db) => db.backups.setPinned(id, pinned));
          return { data: brief(rec), human: () => `backup ${rec.id} of database ${rec.database} is ${pinned ? 'pinned' : 'not pinned'}` };
        }),
      );
  }
}
