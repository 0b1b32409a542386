import type { Command } from 'commander';
import type { Config } from '../../config/index.js';
import { repositoryOptions, storageOptions } from '../../config/index.js';
import { errorMessage, isPitrdError, PitrdError } from '../../errors.js';
import { openRepository, REPO_JSON_KEY, type Repository } from '../../repository/index.js';
import { createObjectStore } from '../../storage/index.js';
import { probeDatabase, type CheckResult, type CheckStatus } from '../check/index.js';
import { loadCommandConfig, out } from '../context.js';
import { reporting, type Outcome } from '../report.js';

interface CheckOpts {
  database?: string;
  nagios?: boolean;
  json?: boolean;
  archive?: boolean;
  archiveTimeout: string;
}

/** Nagios plugin statuses (`--nagios`): the monitoring system reads the exit status. */
const NAGIOS = { ok: 0, warning: 1, critical: 2, unknown: 3 } as const;
const RANK: Record<CheckStatus, number> = { ok: 0, warning: 1, critical: 2 };

interface DatabaseCheck {
  database: string;
  status: CheckStatus;
  checks: CheckResult[];
}

function worst(statuses: CheckStatus[]): CheckStatus {
  return statuses.reduce<CheckStatus>((w, s) => (RANK[s] > RANK[w] ? s : w), 'ok');
}

/** The repository, or a critical result saying why it cannot be read (storage down, no repo.json). */
async function openForCheck(config: Config): Promise<{ repo: Repository | null; close: () => Promise<void>; problem: CheckResult | null }> {
  const store = createObjectStore(storageOptions(config));
  const close = () => store.close();
  try {
    if ((await store.head(REPO_JSON_KEY)) === null) return { repo: null, close, problem: null };
    return { repo: await openRepository(store, repositoryOptions(config)), close, problem: null };
  } catch (err) {
    if (isPitrdError(err, 'OBJECT_NOT_FOUND')) return { repo: null, close, problem: null };
    return { repo: null, close, problem: { check: 'repository', status: 'critical', message: `${isPitrdError(err) ? `${err.code}: ` : ''}${errorMessage(err)}` } };
  }
}

async function runChecks(config: Config, o: CheckOpts): Promise<DatabaseCheck[]> {
  const timeoutS = Number(o.archiveTimeout);
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new PitrdError('VALIDATION_ERROR', `--archive-timeout: expected a positive number of seconds, got "${o.archiveTimeout}"`);
  const dbs = o.database === undefined ? config.databases : config.databases.filter((d) => d.name === o.database);
  if (dbs.length === 0) {
    throw new PitrdError(o.database === undefined ? 'VALIDATION_ERROR' : 'DATABASE_NOT_FOUND', o.database === undefined ? 'the config lists no databases to check' : `--database: no database "${o.database}" in the config`, {
      context: { database: o.database },
    });
  }
  const { repo, close, problem } = await openForCheck(config);
  try {
    const results: DatabaseCheck[] = [];
    for (const db of dbs) {
      const known = repo ? await repo.listDatabases() : [];
      const dbRepo = repo && known.some((r) => r.project === db.project && r.name === db.name) ? repo.database(db) : null;
      const checks = await probeDatabase(db, dbRepo, { archive: o.archive !== false && problem === null, archiveTimeoutMs: timeoutS * 1000 });
      if (problem) checks.push(problem);
      results.push({ database: db.name, status: worst(checks.map((c) => c.status)), checks });
    }
    return results;
  } finally {
    await close();
  }
}

function human(results: DatabaseCheck[]): string {
  return results.map((r) => [`database ${r.database}: ${r.status.toUpperCase()}`, ...r.checks.map((c) => `  [${c.status}] ${c.check}: ${c.message}`)].join('\n')).join('\n');
}

/** One Nagios line: status, then the problems (or a summary), `|`-free. */
function nagiosLine(results: DatabaseCheck[]): { line: string; status: number } {
  const overall = worst(results.map((r) => r.status));
  const problems = results.flatMap((r) => r.checks.filter((c) => c.status !== 'ok').map((c) => `${r.database}: ${c.check}: ${c.message}`));
  const text = problems.length ? problems.join('; ') : `${results.length} database(s) protected, archive verified`;
  return { line: `PITRD ${overall.toUpperCase()} - ${text.replace(/\|/g, '/')}`, status: NAGIOS[overall] };
}

/**
 * `pitrd check`: is each configured database protected right now? Connection and privileges,
 * wal_level, max_wal_senders, the replication slot (present, active, WAL not lost), a replication
 * connection to the same system the repository holds, and the archive end to end (a WAL switch on
 * the server, then the segment awaited in the repository). Exit 1 on any warning or critical;
 * `--nagios` prints one line and exits 0 OK / 1 WARNING / 2 CRITICAL / 3 UNKNOWN.
 */
export function register(program: Command): void {
  program
    .command('check')
    .description('check that each configured database is protected now: connection, privileges, wal_level, slot, replication, archive end to end')
    .option('--database <name>', 'database from the config (default: every configured database)')
    .option('--no-archive', 'skip the archive probe (it switches a WAL segment on the server)')
    .option('--archive-timeout <seconds>', 'how long to wait for the switched segment to be archived', '60')
    .option('--nagios', 'one status line and the Nagios plugin exit statuses (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)')
    .option('--json', 'print the results as JSON')
    .action(async function (this: Command, o: CheckOpts) {
      if (!o.nagios) return reporting(async function (this: Command): Promise<Outcome> {
        const results = await runChecks(loadCommandConfig(this), o);
        return { data: { status: worst(results.map((r) => r.status)), databases: results }, human: () => human(results), problem: results.some((r) => r.status !== 'ok') };
      }).call(this);
      // Nagios: whatever goes wrong before a verdict (bad options, config, …) is UNKNOWN.
      try {
        if (o.json) throw new PitrdError('VALIDATION_ERROR', '--nagios and --json cannot be combined');
        const { line, status } = nagiosLine(await runChecks(loadCommandConfig(this), o));
        out(line);
        process.exitCode = status;
      } catch (err) {
        out(`PITRD UNKNOWN - ${isPitrdError(err) ? `${err.code}: ` : ''}${errorMessage(err).replace(/\n/g, ' ')}`);
        process.exitCode = NAGIOS.unknown;
      }
    });
}
