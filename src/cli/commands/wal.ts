import type { Command } from 'commander';
import { openCatalog, recoveryWindow, summarizeArchive } from '../../catalog/index.js';
import { isPitrdError } from '../../errors.js';
import { loadCommandConfig, out } from '../context.js';

async function withCatalog(cmd: Command, name: string, database: string | undefined, fn: Parameters<typeof run>[1]): Promise<void> {
  try {
    await run(cmd, fn, database);
  } catch (err) {
    process.stderr.write(`pitrd wal ${name}: ${isPitrdError(err) ? `${err.code}: ` : ''}${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 2;
  }
}

async function run(cmd: Command, fn: (c: Awaited<ReturnType<typeof openCatalog>>) => Promise<void>, database: string | undefined): Promise<void> {
  const c = await openCatalog(loadCommandConfig(cmd), database);
  try {
    await fn(c);
  } finally {
    await c.store.close();
  }
}

/** `pitrd wal summarize|window`: the WAL summaries the recovery window is computed from. */
export function register(program: Command): void {
  const wal = program.command('wal').description('WAL archive catalog: summaries and recovery windows');
  wal
    .command('summarize')
    .description('summarise archived segments that have no summary yet (rebuilds missing summaries)')
    .option('--database <name>', 'database (default: every database in the repository)')
    .option('--json', 'print the result as JSON (one database: its result; several: an object by database name)')
    .action(async function (this: Command, opts: { database?: string; json?: boolean }) {
      await withCatalog(this, 'summarize', opts.database, async ({ repo, databases }) => {
        const all: Record<string, Awaited<ReturnType<typeof summarizeArchive>>> = {};
        for (const name of databases) {
          const r = (all[name] = await summarizeArchive(repo, name));
          if (!opts.json) {
            out(`database ${name}: ${r.read} segment(s) summarised, ${r.alreadySummarized} already summarised, ${r.failed.length} failed`);
            for (const f of r.failed) out(`  ${f.segment}: ${f.code}: ${f.message}`);
          }
          if (r.failed.length) process.exitCode = 1;
        }
        // One JSON document whatever the number of databases, so `JSON.parse(stdout)` always works.
        if (opts.json) out(JSON.stringify(databases.length === 1 ? all[databases[0]!] : all, null, 2));
      });
    });
  wal
    .command('window')
    .description('show the recovery window of each timeline (from the stored summaries)')
    .option('--database <name>', 'database (default: every database in the repository)')
    .option('--json', 'print the windows as JSON')
    .action(async function (this: Command, opts: { database?: string; json?: boolean }) {
      await withCatalog(this, 'window', opts.database, async ({ repo, databases }) => {
        const all: Record<string, Awaited<ReturnType<typeof recoveryWindow>>> = {};
        for (const name of databases) all[name] = await recoveryWindow(repo, name);
        if (opts.json) {
          out(JSON.stringify(opts.database !== undefined ? all[opts.database] : all, null, 2));
          return;
        }
        for (const [name, windows] of Object.entries(all)) {
          for (const w of windows) {
            out(`database ${name} timeline ${w.timeline}: ${w.status} from ${w.from ?? '-'} to ${w.to ?? '-'} (backup ${w.backup_id ?? '-'}, LSN ${w.from_lsn ?? '-'} .. ${w.to_lsn ?? '-'}, last segment ${w.last_segment ?? '-'})${w.gaps.length ? `, gaps: ${w.gaps.join(', ')}` : ''}`);
          }
        }
      });
    });
}
