import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { openDatabases, recoveryWindow, summarizeArchive, type RecoveryWindowView } from '../../catalog/index.js';
import type { Config } from '../../config/index.js';
import { scanSpool, spoolDirOf } from '../../receiver/index.js';
import type { BackupRecord, DatabaseRef, Repository } from '../../repository/index.js';
import { loadCommandConfig } from '../context.js';
import { formatBytes } from '../progress.js';
import { reporting, type Outcome } from '../report.js';

interface SpoolView {
  dir: string;
  /** Complete segments waiting for upload, and the `.partial` being written. */
  backlog_segments: number;
  partial: string | null;
}

interface DatabaseView {
  name: string;
  project: string | null;
  system_identifier: string | null;
  pg_version: number | null;
  backups: Array<Pick<BackupRecord, 'id' | 'type' | 'status' | 'label' | 'start_time' | 'stop_time' | 'start_lsn' | 'stop_lsn' | 'timeline' | 'pinned'> & { stored_size: number; original_size: number }>;
  recovery_windows: RecoveryWindowView[];
  archive: { segments: number; last_segment: string | null; latest_wal_time: string | null };
  /** This host's spool of the database, when pitrd's receiver runs here (null elsewhere). */
  spool: SpoolView | null;
}

async function spoolOf(config: Config, ref: DatabaseRef): Promise<SpoolView | null> {
  const dir = spoolDirOf(config.spool_dir, ref);
  if (!existsSync(dir)) return null;
  const s = await scanSpool(dir);
  return { dir, backlog_segments: s.complete.length, partial: s.partials.at(-1)?.name ?? null };
}

async function describeDatabase(repo: Repository, config: Config, ref: DatabaseRef): Promise<DatabaseView> {
  const db = repo.database(ref);
  const name = ref.name;
  const info = await db.info();
  const backups = (await db.backups.list()).map((b) => ({
    id: b.id, type: b.type, status: b.status, label: b.label, start_time: b.start_time, stop_time: b.stop_time,
    start_lsn: b.start_lsn, stop_lsn: b.stop_lsn, timeline: b.timeline, pinned: b.pinned,
    stored_size: b.files.reduce((n, f) => n + f.stored_size, 0), original_size: b.files.reduce((n, f) => n + f.size, 0),
  }));
  let segments = 0;
  for await (const _ of db.wal.listSegments()) segments++;
  // The window is computed from WAL summaries: summarise what was archived since (a cache in the
  // repository, as a restore's plan and the daemon keep it), so the answer is today's.
  if (info) await summarizeArchive(repo, ref);
  const windows = info ? await recoveryWindow(repo, ref) : [];
  const last = await db.wal.lastSegment();
  const newest = windows.reduce<string | null>((t, w) => (w.latest_wal_time !== null && (t === null || w.latest_wal_time > t) ? w.latest_wal_time : t), null);
  return {
    name,
    project: ref.project,
    system_identifier: info?.system_identifier ?? null,
    pg_version: info?.pg_version ?? null,
    backups,
    recovery_windows: windows,
    archive: { segments, last_segment: last?.name ?? null, latest_wal_time: newest },
    spool: await spoolOf(config, ref),
  };
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

function human(d: DatabaseView): string {
  // pg_version is server_version_num (150018): the major is what an operator knows it by.
  const major = d.pg_version === null ? '-' : String(Math.floor(d.pg_version / 10000));
  const out = [`database ${d.name} (project ${d.project ?? '-'}, PostgreSQL ${major}, system ${d.system_identifier ?? '-'})`];
  out.push(`  archive: ${d.archive.segments} segment(s), last ${d.archive.last_segment ?? '-'}, newest commit ${d.archive.latest_wal_time ?? '-'}`);
  if (d.spool) out.push(`  spool on this host: ${d.spool.backlog_segments} segment(s) not yet uploaded, writing ${d.spool.partial ?? '-'} (${d.spool.dir})`);
  for (const w of d.recovery_windows) {
    out.push(`  recovery window, timeline ${w.timeline}: ${w.status} from ${w.from ?? '-'} to ${w.to ?? '-'} (backup ${w.backup_id ?? '-'})${w.gaps.length ? `; gaps: ${w.gaps.join(', ')}` : ''}`);
  }
  if (d.backups.length === 0) out.push('  no base backups');
  else {
    const rows = [['id', 'type', 'status', 'start', 'stop', 'stored', 'original', 'pinned']];
    for (const b of d.backups) rows.push([b.id, b.type, b.status, b.start_time ?? '-', b.stop_time ?? '-', formatBytes(b.stored_size), formatBytes(b.original_size), b.pinned ? 'yes' : '']);
    out.push(table(rows).replace(/^/gm, '  '));
  }
  return out.join('\n');
}

/**
 * `pitrd info`: what the repository holds for each database — base backups, recovery windows and
 * their gaps, the archive's newest segment — and, on the receiver's host, the spool's backlog.
 */
export function register(program: Command): void {
  program
    .command('info')
    .description('per database: base backups, recovery windows and gaps, archive and spool status')
    .option('--database <name>', 'database, `name` or `project/name` (default: every database in the repository)')
    .option('--json', 'print JSON')
    .action(
      reporting(async function (this: Command, o: { database?: string }): Promise<Outcome> {
        const config = loadCommandConfig(this);
        const { repo, store, databases } = await openDatabases(config, o.database);
        try {
          const views: DatabaseView[] = [];
          for (const ref of databases) views.push(await describeDatabase(repo, config, ref));
          return { data: { databases: views }, human: () => views.map(human).join('\n\n') };
        } finally {
          await store.close();
        }
      }),
    );
}
