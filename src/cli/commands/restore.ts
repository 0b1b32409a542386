import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { spoolDirOf } from '../../receiver/index.js';
import type { Command } from 'commander';
import { PitrdError } from '../../errors.js';
import { findEvent, openOneDatabase } from '../../catalog/index.js';
import { parseRecoveryTarget, parseTargetOrEvent, runRestore, type ParsedTarget, type RecoveryTarget, type TargetField, type RestoreProgress, type TargetAction } from '../../restore/index.js';
import { loadCommandConfig } from '../context.js';
import { reporting } from '../report.js';
import { createProgress, formatBytes, percent, type Progress } from '../progress.js';

interface RestoreOpts {
  toTime?: string;
  toLsn?: string;
  toName?: string;
  toXid?: string;
  beforeEvent?: string;
  latest?: boolean;
  immediate?: boolean;
  targetDir: string;
  backup?: string;
  database?: string;
  exclusive?: boolean;
  timeline?: string;
  action?: string;
  run?: boolean;
  json?: boolean;
}

const TARGET_OPTIONS = ['--to-time', '--to-lsn', '--to-name', '--to-xid', '--before-event', '--latest', '--immediate'];

function targetFields(o: RestoreOpts): { field: TargetField; value: string | true | undefined; as: string }[] {
  return [
    { field: 'time', value: o.toTime, as: '--to-time' },
    { field: 'lsn', value: o.toLsn, as: '--to-lsn' },
    { field: 'name', value: o.toName, as: '--to-name' },
    { field: 'xid', value: o.toXid, as: '--to-xid' },
    { field: 'event', value: o.beforeEvent, as: '--before-event' },
    { field: 'latest', value: o.latest ? true : undefined, as: '--latest' },
    { field: 'immediate', value: o.immediate ? true : undefined, as: '--immediate' },
  ];
}

/** Without --before-event: the target, checked before the repository is opened. */
function targetOf(o: RestoreOpts): RecoveryTarget | null {
  if (o.beforeEvent !== undefined && [o.toTime, o.toLsn, o.toName, o.toXid, o.latest, o.immediate].every((v) => v === undefined)) return null;
  return parseRecoveryTarget(targetFields(o), TARGET_OPTIONS);
}

/** Restore events → phase lines (one per phase) and a live status line. */
function restoreRenderer(progress: Progress): (p: RestoreProgress) => void {
  let phase: RestoreProgress['phase'] | null = null;
  return (p) => {
    const entered = p.phase !== phase;
    phase = p.phase;
    switch (p.phase) {
      case 'plan':
        progress.phase(`plan: backup ${p.backup_id} (start LSN ${p.backup_start_lsn ?? '-'}), timeline ${p.target_timeline}, ${p.segments_total} archived WAL segment(s) from the backup on`);
        break;
      case 'extract':
        if (entered) progress.phase(`extract: unpacking ${formatBytes(p.bytes_total)} of base backup`);
        progress.update(`extract: ${p.file} ${formatBytes(p.bytes_done)} / ${formatBytes(p.bytes_total)} ${percent(p.bytes_done, p.bytes_total)}`);
        break;
      case 'replay':
        if (entered) progress.phase('WAL replay: PostgreSQL is recovering to the target');
        progress.update(`WAL replay: ${p.segments_applied} / ${p.segments_total} segment(s) restored, replay LSN ${p.replay_lsn ?? '-'}`);
        break;
      case 'target_reached':
        progress.phase(`target reached (${p.outcome}): ${p.segments_applied} WAL segment(s) restored, replay LSN ${p.replay_lsn ?? '-'}`);
        break;
    }
  };
}

/** The longest Unix socket path (sun_path) PostgreSQL can bind: 107 bytes. */
const MAX_SOCKET_PATH = 107;

/**
 * `--run` leaves a server running after pitrd exits: it must not need pitrd (a paused server's
 * restore_command is pitrd's prefetcher, which ends with this command), and its socket goes in
 * its data directory, whose path must then fit a Unix socket path.
 */
function checkRunnable(o: RestoreOpts): void {
  if ((o.action ?? 'promote') === 'pause') {
    throw new PitrdError('VALIDATION_ERROR', '--run with --action pause: a paused server replays further through pitrd, which exits with this command; use --action promote, or the API\'s mode "running"');
  }
  const socket = `${resolve(o.targetDir)}/.s.PGSQL.65535`;
  if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) {
    throw new PitrdError('VALIDATION_ERROR', `--run: --target-dir ${resolve(o.targetDir)} is too long to hold the server's Unix socket (at most ${MAX_SOCKET_PATH - 15} bytes)`, { context: { target_dir: o.targetDir } });
  }
}

/** `pitrd restore`: a new data directory recovered to a point in time, from the repository alone. */
export function register(program: Command): void {
  program
    .command('restore')
    .description('restore a database from the repository into a new data directory, to a point in time')
    .option('--to-time <time>', 'recovery target time (ISO 8601)')
    .option('--to-lsn <lsn>', 'recovery target LSN')
    .option('--to-name <name>', 'restore point name (pg_create_restore_point)')
    .option('--to-xid <xid>', 'recovery target transaction id')
    .option('--before-event <id>', 'just before this event of `pitrd events` (its transaction excluded, on its timeline)')
    .option('--latest', 'replay all archived WAL, and on the receiver host the WAL its spool holds beyond it')
    .option('--immediate', 'stop as soon as the backup is consistent')
    .requiredOption('--target-dir <dir>', 'new data directory (absent or empty)')
    .option('--backup <id>', 'restore from this backup instead of the newest that precedes the target')
    .option('--database <name>', 'database in the repository, `name` or `project/name` (default: the only one)')
    .option('--exclusive', 'stop just before the target (recovery_target_inclusive = off)')
    .option('--timeline <tli>', 'recovery target timeline: a number, latest or current', 'latest')
    .option('--action <action>', 'at the target: promote, pause or shutdown', 'promote')
    .option('--run', 'leave the restored server running and print its connection string')
    .option('--json', 'print JSON')
    .action(reporting(async function (this: Command, o: RestoreOpts) {
      const given = targetOf(o);
      if (!['promote', 'pause', 'shutdown'].includes(o.action ?? 'promote')) throw new PitrdError('VALIDATION_ERROR', `--action: expected promote, pause or shutdown, got "${o.action}"`);
      const tl = o.timeline === 'latest' || o.timeline === 'current' ? o.timeline : Number(o.timeline);
      if (typeof tl === 'number' && !(Number.isInteger(tl) && tl > 0)) throw new PitrdError('VALIDATION_ERROR', `--timeline: expected a number, latest or current, got "${o.timeline}"`);
      if (o.run) checkRunnable(o);
      // repo lets the plan bring the WAL summaries up to date before checking the window.
      const config = loadCommandConfig(this);
      const { db, store, repo } = await openOneDatabase(config, o.database);
      let target: RecoveryTarget;
      let fromEvent: ParsedTarget | null = null;
      try {
        if (given) target = given;
        else {
          // --timeline has a default: only a non-default value conflicts with the event's own.
          const options = [...(o.exclusive ? ['--exclusive'] : []), ...(o.timeline !== 'latest' ? ['--timeline'] : [])];
          fromEvent = await parseTargetOrEvent(targetFields(o), TARGET_OPTIONS, { findEvent: async (id, as) => (await findEvent(db, id, as)).restore_target, options });
          target = fromEvent.target;
        }
      } catch (err) {
        await store.close();
        throw err;
      }
      // On the receiver's host, --latest also replays the WAL flushed into the spool but not yet
      // archived (the receiver's spool of a database is <spool_dir>/<project>/<database>).
      const spoolDir = spoolDirOf(config.spool_dir, db);
      const spool = target.kind === 'latest' && existsSync(spoolDir) ? { spoolDir } : {};
      const progress = createProgress({ json: o.json === true });
      try {
        const r = await runRestore({
          db, repo, target, targetDir: o.targetDir, timeline: fromEvent?.timeline ?? tl, action: (o.action ?? 'promote') as TargetAction,
          // A server left running after this command exits keeps its socket and log in its data directory.
          mode: o.run ? 'running' : 'stopped', ...spool, minFreeBytes: config.restores.min_free_bytes, ...(o.run ? { runDir: o.targetDir } : {}),
          ...(o.exclusive || fromEvent?.inclusive === false ? { inclusive: false } : {}), ...(o.backup !== undefined ? { backupId: o.backup } : {}),
          ...(o.json ? {} : { onProgress: restoreRenderer(progress) }),
        }).finally(() => progress.done());
        const summary = { restore: r.record, data_dir: r.dataDir, connection_string: r.connectionString ?? null };
        return {
          data: summary,
          human: () =>
            `restore ${r.record.id} completed from backup ${r.plan.backup.id}: ${r.record.wal_files_applied} WAL files applied${r.record.partial_segment ? ` (the last, ${r.record.partial_segment}, from the spool's partial segment)` : ''}\n` +
            (r.connectionString ? `running: ${r.connectionString}` : `data directory ready: ${r.dataDir}`),
        };
      } finally {
        await store.close();
      }
    }));
}
