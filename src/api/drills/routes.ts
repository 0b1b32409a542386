/**
 * Restore drills over HTTP: POST …/drills (202, then poll), GET …/drills (cursor pages, newest
 * first), GET …/drills/:drill_id.
 */
import { z } from 'zod';
import { backupIdParam } from '../backups/routes.js';
import { dbParams } from '../databases/common.js';
import { objectRouteFactory, projectRouteFactory } from '../databases/db-route.js';
import type { DatabaseService } from '../databases/types.js';
import { paginate, pageQuery } from '../pagination.js';
import type { ProjectStore } from '../projects/index.js';
import { objectIdParam } from '../restores/schemas.js';
import type { RouteDef } from '../route.js';
import type { DrillService } from './types.js';

const drillIdParam = objectIdParam('drill', 'drl_20260125T143000Z_1a2b3c4d');
const phase = z.enum(['fetch', 'extract', 'replay', 'checks']);
const secs = z.number().nullable();

export const drillSchema = z.object({
  id: z.string(),
  database: z.string(),
  status: z.enum(['running', 'succeeded', 'failed', 'interrupted']),
  trigger: z.enum(['schedule', 'api', 'cli']),
  backup_id: z.string().nullable(),
  restore_id: z.string().nullable(),
  target: z.string().nullable(),
  started_at: z.string(),
  completed_at: z.string().nullable(),
  phases: z.object({ fetch: secs, extract: secs, replay: secs, checks: secs }).describe('seconds per phase: fetch (plan: window, backup, WAL listing), extract (download and unpack the base backup), replay (WAL), checks'),
  rto_seconds: secs.describe('measured recovery time: fetch + extract + replay'),
  wal: z.object({ segments: z.number().int(), bytes: z.number() }).nullable().describe('WAL replayed: segments handed to PostgreSQL, bytes from the backup start to the replay end'),
  checks: z
    .object({
      databases: z.number().int(),
      tables: z.number().int(),
      rows: z.number(),
      indexes_checked: z.number().int(),
      amcheck_unavailable: z.array(z.string()),
      sql_checks: z.number().int(),
      table_rows: z.array(z.object({ table: z.string(), rows: z.number() })),
    })
    .nullable(),
  failures: z.array(z.object({ phase, object: z.string().nullable(), code: z.string(), message: z.string() })),
});

const drillBody = z.strictObject({
  backup_id: backupIdParam.optional().describe('restore this backup (default: the newest, to the latest point of its window)'),
});

export function drillRoutes(deps: { projects: ProjectStore; databases: DatabaseService; drills: DrillService }): RouteDef[] {
  const { drills } = deps;
  const route = projectRouteFactory(deps, 'drills');
  const drill = objectRouteFactory(route, 'drill_id', drillIdParam);
  const base = '/projects/:project_id/databases/:name';
  return [
    route({
      method: 'POST',
      url: `${base}/drills`,
      summary: 'Run a restore drill now: restore a backup into a scratch directory, check it, remove it; 202, then poll the drill. 409 DRILL_IN_PROGRESS while another drill runs on this daemon',
      params: dbParams,
      body: drillBody,
      status: 202,
      idempotent: true,
      response: drillSchema,
      async handler({ params, body }) {
        return drills.start(params.project_id, params.name, body?.backup_id !== undefined ? { backupId: body.backup_id } : {});
      },
    }),
    route({
      method: 'GET',
      url: `${base}/drills`,
      summary: 'Restore drills of a database, newest first',
      params: dbParams,
      query: pageQuery,
      response: z.object({ drills: z.array(drillSchema), next_cursor: z.string().nullable(), total_count: z.number().int() }),
      async handler({ params, query }) {
        const all = await drills.list(params.project_id, params.name);
        const page = paginate(all, (d) => [-Date.parse(d.started_at), d.id], 2, query);
        return { drills: page.items, next_cursor: page.next_cursor, total_count: all.length };
      },
    }),
    drill({ method: 'GET', url: `${base}/drills/:drill_id`, summary: 'One restore drill: phases (RTO), WAL replayed, checks, failures', response: drillSchema, call: (p, n, id) => drills.get(p, n, id) }),
  ];
}
