import type { Command } from 'commander';
import { isPitrdError } from '../../errors.js';
import { openOneDatabase } from '../../catalog/index.js';
import { fetchWalFile } from '../../restore/index.js';
import { loadCommandConfig } from '../context.js';

/**
 * `pitrd wal-fetch %f %p`: PostgreSQL's restore_command. Exit 0 = fetched; exit 1 silently =
 * not in the archive (PostgreSQL probes for files that do not exist); other failures (checksum,
 * key, storage) print a message and exit 2, so PostgreSQL logs them and retries or stops.
 */
export function register(program: Command): void {
  program
    .command('wal-fetch')
    .description('restore_command: fetch one WAL segment or timeline history file from the repository')
    .argument('<file>', 'file name (%f)')
    .argument('<path>', 'destination path (%p)')
    .option('--database <name>', 'database in the repository, `name` or `project/name` (default: the only one)')
    .action(async function (this: Command, file: string, path: string, opts: { database?: string }) {
      try {
        const { db, store } = await openOneDatabase(loadCommandConfig(this), opts.database);
        try {
          if ((await fetchWalFile(db, file, path)) === 'missing') process.exitCode = 1;
        } finally {
          await store.close();
        }
      } catch (err) {
        process.stderr.write(`pitrd: ${isPitrdError(err) ? `${err.code}: ` : ''}wal-fetch ${file}: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exitCode = 2;
      }
    });
}
