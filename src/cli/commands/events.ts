import type { Command } from 'commander';
import { openOneDatabase, parseEventQuery, queryEvents, summarizeDatabase, type ResolvedEvent } from '../../catalog/index.js';
import { PitrdError } from '../../errors.js';
import { loadCommandConfig } from '../context.js';
import { reporting } from '../report.js';

interface EventsOpts {
  database?: string;
  kind?: string;
  relation?: string;
  from?: string;
  to?: string;
  minRows?: string;
  refresh?: boolean;
  json?: boolean;
}

function line(e: ResolvedEvent): string {
  const what =
    e.kind === 'restore_point'
      ? `restore point "${e.restore_point}"`
      : `${e.kind}${e.rows !== null && e.kind !== 'schema' ? ` ${e.rows} rows of` : ''} ${e.relations.join(', ') || (e.database ?? '')}`.trimEnd();
  const where = e.database !== null && e.kind !== 'drop_database' ? ` in ${e.database}` : e.kind === 'drop_database' ? ` ${e.database ?? '(unknown database)'}` : '';
  return `${e.id}  ${e.time}  ${what}${where}  (xid ${e.xid ?? '-'}, LSN ${e.lsn})`;
}

/** `pitrd events`: the event index, "find the accident". */
export function register(program: Command): void {
  program
    .command('events')
    .description('list the events people restore because of (drops, truncates, large deletes/updates, schema changes, restore points), each with the restore just before it')
    .option('--database <name>', 'database in the repository, `name` or `project/name` (default: the only one)')
    .option('--kind <kinds>', 'only these kinds, comma-separated: drop, truncate, rewrite, drop_database, delete, update, schema, restore_point')
    .option('--relation <name>', 'only events about this relation (schema.table, or a bare table name)')
    .option('--from <time>', 'only events at or after this time (RFC 3339)')
    .option('--to <time>', 'only events at or before this time (RFC 3339)')
    .option('--min-rows <n>', 'deletes and updates from this many rows on (default: events.large_change_rows)')
    .option('--no-refresh', 'do not summarise newly archived WAL first (show the index as stored)')
    .option('--json', 'print JSON')
    .action(
      reporting(async function (this: Command, o: EventsOpts) {
        const config = loadCommandConfig(this);
        let minRows: number | undefined;
        if (o.minRows !== undefined) {
          if (!/^\d{1,9}$/.test(o.minRows)) throw new PitrdError('VALIDATION_ERROR', `--min-rows: expected a number of rows, got "${o.minRows}"`);
          minRows = Number(o.minRows);
        }
        const query = parseEventQuery({ kind: o.kind, relation: o.relation, from: o.from, to: o.to, minRows }, config.events.large_change_rows, {
          kind: '--kind', relation: '--relation', from: '--from', to: '--to', minRows: '--min-rows',
        });
        const { db, store } = await openOneDatabase(config, o.database);
        try {
          if (o.refresh !== false) await summarizeDatabase(db);
          const events = await queryEvents(db, query);
          return {
            data: { database: db.name, events },
            human: () =>
              events.length === 0
                ? `no events in database ${db.name} match`
                : [...events.map(line), '', `restore just before one: pitrd restore --database ${db.project}/${db.name} --before-event <id> --target-dir <dir>`].join('\n'),
          };
        } finally {
          await store.close();
        }
      }),
    );
}
