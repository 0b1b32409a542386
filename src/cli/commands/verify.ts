import type { Command } from 'commander';
import { openCatalog, verifyDatabase, type VerifyReport } from '../../catalog/index.js';
import { isPitrdError } from '../../errors.js';
import { loadCommandConfig, out } from '../context.js';

function human(r: VerifyReport): string {
  const head = `database ${r.database}: ${r.ok ? 'OK' : `${r.problems.length} problem(s)`} — ${r.segments} WAL segment(s) on timeline(s) ${r.timelines.join(', ') || '-'}, ${r.segments_checked} re-read, ${r.backups_checked} completed backup(s)`;
  return [head, ...r.problems.map((p) => `  [${p.kind}] ${p.message}`)].join('\n');
}

/** `pitrd verify`: check the archive a restore depends on; exit 1 when anything is wrong. */
export function register(program: Command): void {
  program
    .command('verify')
    .description('verify WAL continuity, timeline histories, segment checksums and backup objects in the repository')
    .option('--database <name>', 'database to verify (default: every database in the repository)')
    .option('--json', 'print the report as JSON')
    .option('--quick', 'skip re-reading segments (no checksum check)')
    .action(async function (this: Command, opts: { database?: string; json?: boolean; quick?: boolean }) {
      try {
        const { repo, store, databases } = await openCatalog(loadCommandConfig(this), opts.database);
        try {
          const reports: VerifyReport[] = [];
          for (const name of databases) reports.push(await verifyDatabase(repo, name, { quick: opts.quick === true }));
          const ok = reports.every((r) => r.ok);
          out(opts.json ? JSON.stringify({ ok, databases: reports }, null, 2) : reports.map(human).join('\n'));
          if (!ok) process.exitCode = 1;
        } finally {
          await store.close();
        }
      } catch (err) {
        process.stderr.write(`pitrd verify: ${isPitrdError(err) ? `${err.code}: ` : ''}${err instanceof Error ? err.message : String(err)}\n`);
        process.exitCode = 2;
      }
    });
}
