/**
 * The event index over HTTP ("find the accident"): GET …/pitr/events, cursor pages in WAL order.
 * Each event carries `restore_target`, the body fields of POST …/pitr/restore that stop just
 * before it; `{"before_event": id}` does the same by id.
 */
import { z } from 'zod';
import { dbParams } from '../databases/common.js';
import { projectRouteFactory } from '../databases/db-route.js';
import type { DatabaseService } from '../databases/types.js';
import { cursorParam, limitParam, paginate } from '../pagination.js';
import type { ProjectStore } from '../projects/index.js';
import type { RouteDef } from '../route.js';

export const EVENT_KINDS = ['drop', 'truncate', 'rewrite', 'drop_database', 'delete', 'update', 'schema', 'restore_point'] as const;

export interface EventView {
  id: string;
  kind: (typeof EVENT_KINDS)[number];
  timeline: number;
  lsn: string;
  time: string;
  xid: string | null;
  database: string | null;
  relations: string[];
  rows: number | null;
  restore_point: string | null;
  restore_target: { target_xid: string; inclusive: false; timeline: number } | { target_name: string; timeline: number };
}

export interface EventQueryParams {
  kind?: string | undefined;
  relation?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
  min_rows?: number | undefined;
}

export interface EventService {
  /** The database's indexed events matching the query, in WAL order; VALIDATION_ERROR names `query.<field>`. */
  events(projectId: string, name: string, query: EventQueryParams): Promise<EventView[]>;
}

const eventSchema = z.object({
  id: z.string().describe('evt_{LSN}_{timeline}_{n}: sorts in WAL order; POST …/pitr/restore {"before_event": id} restores just before it'),
  kind: z.enum(EVENT_KINDS),
  timeline: z.number().int(),
  lsn: z.string().describe('LSN of the commit record (restore point: its record)'),
  time: z.string().describe('commit time, microseconds, UTC'),
  xid: z.string().nullable(),
  database: z.string().nullable().describe('the PostgreSQL database it happened in (drop_database: the one dropped)'),
  relations: z.array(z.string()).describe('schema.table of the relations it is about (named from the relation maps, also after the table is gone)'),
  rows: z.number().int().nullable().describe('delete / update: rows of the relation; schema: catalog rows written'),
  restore_point: z.string().nullable(),
  restore_target: z
    .union([z.object({ target_xid: z.string(), inclusive: z.literal(false), timeline: z.number().int() }), z.object({ target_name: z.string(), timeline: z.number().int() })])
    .describe('the POST …/pitr/restore body fields that stop just before the event'),
});

const eventsQuery = z.strictObject({
  limit: limitParam,
  cursor: cursorParam,
  kind: z.string().max(200).optional().describe(`only these kinds, comma-separated: ${EVENT_KINDS.join(', ')}`),
  relation: z.string().max(200).optional().describe('only events about this relation: schema.table, or a bare table name'),
  from: z.string().max(64).optional().describe('only events at or after this time (RFC 3339)'),
  to: z.string().max(64).optional().describe('only events at or before this time (RFC 3339)'),
  min_rows: z
    .string()
    .regex(/^[0-9]{1,9}$/, { error: 'expected a number of rows' })
    .transform(Number)
    .optional()
    .describe('deletes and updates from this many rows on (default: the config\'s events.large_change_rows)'),
});

export function eventRoutes(deps: { projects: ProjectStore; databases: DatabaseService; events: EventService }): RouteDef[] {
  const route = projectRouteFactory(deps, 'pitr');
  return [
    route({
      method: 'GET',
      url: '/projects/:project_id/databases/:name/pitr/events',
      summary: 'Events people restore because of (drops, truncates, large deletes/updates, schema changes, restore points), in WAL order, each with the restore target just before it',
      params: dbParams,
      query: eventsQuery,
      response: z.object({ events: z.array(eventSchema), next_cursor: z.string().nullable(), total_count: z.number().int() }),
      async handler({ params, query }) {
        const { limit, cursor, ...filters } = query;
        const all = await deps.events.events(params.project_id, params.name, filters);
        const page = paginate(all, (e) => [e.id], 1, { limit, cursor });
        return { events: page.items, next_cursor: page.next_cursor, total_count: all.length };
      },
    }),
  ];
}
