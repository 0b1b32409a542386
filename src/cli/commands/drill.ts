import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { openOneDatabase } from '../../catalog/index.js';
import { DATABASE_DEFAULTS } from '../../config/index.js';
import { executeRestore, prepareRestore, recordRestore, type RunRestoreOptions } from '../../restore/index.js';
import { drillView, startDrill } from '../../service/index.js';
import { loadCommandConfig } from '../context.js';
import { reporting } from '../report.js';

interface DrillOpts {
  database?: string;
  backup?: string;
  scratchDir?: string;
  json?: boolean;
}

const fmt = (s: number | null) => (s === null ? '-' : `${s.toFixed(1)} s`);

/**
 * `pitrd drill`: a restore drill from the repository alone (the body the daemon runs too,
 * src/service/drill-run.ts): the backup restored to the latest point of its window into a scratch
 * directory, checked, removed; recorded in the repository's drills/{id}.json.
 */
export function register(program: Command): void {
  program
    .command('drill')
    .description('restore drill: restore a backup into a scratch directory, check it (amcheck, row counts, drill.check_sql), remove it; records the phases (RTO) in the repository')
    .option('--database <name>', 'database in the repository, `name` or `project/name` (default: the only one)')
    .option('--backup <id>', 'drill this backup (default: the newest, to the latest point of its window)')
    .option('--scratch-dir <dir>', 'where the scratch data directory goes (default: the system temp directory)')
    .option('--json', 'print JSON')
    .action(reporting(async function (this: Command, o: DrillOpts) {
      const config = loadCommandConfig(this);
      const { db, store, repo } = await openOneDatabase(config, o.database);
      const cfg = config.databases.find((d) => d.project === db.project && d.name === db.name);
      const parent = mkdtempSync(join(o.scratchDir !== undefined ? resolve(o.scratchDir) : tmpdir(), 'pitrd-drill-'));
      try {
        const started = await startDrill({
          db,
          trigger: 'cli',
          ...(o.backup !== undefined ? { backupId: o.backup } : {}),
          scratchDir: join(parent, 'data'),
          user: cfg?.connection.user ?? 'postgres',
          dbname: cfg?.connection.dbname ?? 'postgres',
          checkSql: cfg?.drill.check_sql ?? DATABASE_DEFAULTS.drill.check_sql,
          async restore(order) {
            const opts: RunRestoreOptions = {
              db,
              repo,
              target: { kind: 'latest' },
              targetDir: order.targetDir,
              mode: 'running',
              strictLatest: true,
              localTrust: true,
              minFreeBytes: config.restores.min_free_bytes,
              onProgress: order.onProgress,
              ...(order.backupId !== undefined ? { backupId: order.backupId } : {}),
            };
            const prepared = await prepareRestore(opts);
            const record = await recordRestore(opts, prepared, { ...order.recordFields, mode: 'running', target_dir: order.targetDir });
            return { record, result: executeRestore(opts, prepared, record) };
          },
        });
        const rec = drillView(await started.done);
        const p = rec.phases;
        return {
          data: rec,
          problem: rec.status !== 'succeeded',
          human: () =>
            [
              `drill ${rec.id} of backup ${rec.backup_id ?? '-'} to ${rec.target ?? '-'}: ${rec.status}`,
              `phases: fetch ${fmt(p.fetch)}, extract ${fmt(p.extract)}, replay ${fmt(p.replay)}, checks ${fmt(p.checks)}; RTO ${fmt(rec.rto_seconds)}`,
              ...(rec.wal ? [`WAL replayed: ${rec.wal.segments} segment(s), ${rec.wal.bytes} bytes`] : []),
              ...(rec.checks ? [`checks: ${rec.checks.databases} database(s), ${rec.checks.tables} table(s), ${rec.checks.rows} row(s), ${rec.checks.indexes_checked} index(es) amchecked, ${rec.checks.sql_checks} check_sql passed${rec.checks.amcheck_unavailable.length ? `; amcheck unavailable in ${rec.checks.amcheck_unavailable.join(', ')}` : ''}`] : []),
              ...rec.failures.map((f) => `FAILED in ${f.phase}${f.object !== null ? ` on ${f.object}` : ''}: ${f.code}: ${f.message}`),
            ].join('\n'),
        };
      } finally {
        rmSync(parent, { recursive: true, force: true });
        await store.close();
      }
    }));
}
