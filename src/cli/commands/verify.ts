import type { Command } from 'commander';
import { openDatabases, verifyDatabase, type VerifyProgress, type VerifyReport } from '../../catalog/index.js';
import { loadCommandConfig } from '../context.js';
import { reporting } from '../report.js';
import { createProgress, type Progress } from '../progress.js';

function human(r: VerifyReport): string {
  const head = `database ${r.database}: ${r.ok ? 'OK' : `${r.problems.length} problem(s)`} — ${r.segments} WAL segment(s) on timeline(s) ${r.timelines.join(', ') || '-'}, ${r.segments_checked} re-read, ${r.backups_checked} completed backup(s)`;
  return [head, ...r.problems.map((p) => `  [${p.kind}] ${p.message}`)].join('\n');
}

/** Verification events → a phase line per step and a live "segments checked" line. */
function verifyRenderer(progress: Progress): (p: VerifyProgress) => void {
  return (p) => {
    if (p.phase === 'listing') progress.phase(`database ${p.database}: listing WAL segments, timeline histories and backups`);
    else if (p.phase === 'backups') progress.phase(`database ${p.database}: checking ${p.backups_total} backup(s) and the continuity of ${p.segments_total} WAL segment(s)`);
    else if (p.phase === 'checksums') {
      if (p.segments_checked === 0) progress.phase(`database ${p.database}: re-reading ${p.segments_total} WAL segment(s) against their checksums`);
      else progress.update(`database ${p.database}: ${p.segments_checked} / ${p.segments_total} segment(s) checked`);
    } else progress.done();
  };
}

/** `pitrd verify`: check the archive a restore depends on; exit 1 when anything is wrong. */
export function register(program: Command): void {
  program
    .command('verify')
    .description('verify WAL continuity, timeline histories, segment checksums and backup objects in the repository')
    .option('--database <name>', 'database to verify, `name` or `project/name` (default: every database in the repository)')
    .option('--json', 'print the report as JSON')
    .option('--quick', 'skip re-reading segments (no checksum check)')
    .action(reporting(async function (this: Command, opts: { database?: string; json?: boolean; quick?: boolean }) {
      const { repo, store, databases } = await openDatabases(loadCommandConfig(this), opts.database);
      const progress = createProgress({ json: opts.json === true });
      const onProgress = verifyRenderer(progress);
      try {
        const reports: VerifyReport[] = [];
        for (const ref of databases) reports.push(await verifyDatabase(repo, ref, { quick: opts.quick === true, onProgress }));
        progress.done();
        const ok = reports.every((r) => r.ok);
        return { data: { ok, databases: reports }, human: () => reports.map(human).join('\n'), problem: !ok };
      } finally {
        progress.done();
        await store.close();
      }
    }));
}
