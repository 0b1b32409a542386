import type { Command } from 'commander';
import { databaseLabel, openDatabases, recoveryWindow, summarizeArchive } from '../../catalog/index.js';
import { loadCommandConfig } from '../context.js';
import { reporting } from '../report.js';

async function withDatabases<T>(cmd: Command, database: string | undefined, fn: (c: Awaited<ReturnType<typeof openDatabases>>) => Promise<T>): Promise<T> {
  const c = await openDatabases(loadCommandConfig(cmd), database);
  try {
    return await fn(c);
  } finally {
    await c.store.close();
  }
}

/** `pitrd wal summarize|window`: the WAL summaries the recovery window is computed from. */
export function register(program: Command): void {
  const wal = program.command('wal').description('WAL archive catalog: summaries and recovery windows');
  wal
    .command('summarize')
    .description('summarise archived segments that have no summary yet (rebuilds missing summaries); exit 1 if a segment cannot be read')
    .option('--database <name>', 'database, `name` or `project/name` (default: every database in the repository)')
    .option('--json', 'print the result as JSON (one database: its result; several: an object by database name)')
    .action(
      reporting(async function (this: Command, opts: { database?: string }) {
        return withDatabases(this, opts.database, async ({ repo, databases }) => {
          const all: Record<string, Awaited<ReturnType<typeof summarizeArchive>>> = {};
          for (const ref of databases) all[databaseLabel(ref)] = await summarizeArchive(repo, ref);
          const lines = Object.entries(all).flatMap(([name, r]) => [
            `database ${name}: ${r.read} segment(s) summarised, ${r.alreadySummarized} already summarised, ${r.failed.length} failed`,
            ...r.failed.map((f) => `  ${f.segment}: ${f.code}: ${f.message}`),
          ]);
          return {
            data: databases.length === 1 ? all[databaseLabel(databases[0]!)] : all,
            human: () => lines.join('\n'),
            problem: Object.values(all).some((r) => r.failed.length > 0),
          };
        });
      }),
    );
  wal
    .command('window')
    .description('show the recovery window of each timeline (from the stored summaries)')
    .option('--database <name>', 'database, `name` or `project/name` (default: every database in the repository)')
    .option('--json', 'print the windows as JSON')
    .action(
      reporting(async function (this: Command, opts: { database?: string }) {
        return withDatabases(this, opts.database, async ({ repo, databases }) => {
          const all: Record<string, Awaited<ReturnType<typeof recoveryWindow>>> = {};
          for (const ref of databases) all[databaseLabel(ref)] = await recoveryWindow(repo, ref);
          const lines = Object.entries(all).flatMap(([name, windows]) =>
            windows.flatMap((w) => [
              `database ${name} timeline ${w.timeline}: ${w.status} from ${w.from ?? '-'} to ${w.to ?? '-'} (backup ${w.backup_id ?? '-'}, LSN ${w.from_lsn ?? '-'} .. ${w.to_lsn ?? '-'}, last commit ${w.last_commit_time ?? '-'}, last segment ${w.last_segment ?? '-'})${w.gaps.length ? `, gaps: ${w.gaps.join(', ')}` : ''}`,
              // Stretches after missing WAL, restorable from newer backups.
              ...w.ranges.slice(1).map((r) => `  then from ${r.from} to ${r.to} (backup ${r.backup_id}, LSN ${r.from_lsn} .. ${r.to_lsn}, last segment ${r.last_segment})`),
            ]),
          );
          return { data: opts.database !== undefined ? all[databaseLabel(databases[0]!)] : all, human: () => lines.join('\n') };
        });
      }),
    );
}
