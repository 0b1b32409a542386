/**
 * Base backup routes (seed 004): list, create, get, download, delete, plus an on-demand
 * retention run. Seed 000's "snapshots" are on-demand base backups: POST .../backups is how one
 * is taken, so there is no separate snapshot route.
 */
import { z } from 'zod';
import { dbParams, noQuery } from '../databases/common.js';
import { objectRouteFactory, projectRouteFactory } from '../databases/db-route.js';
import type { DatabaseService } from '../databases/types.js';
import { paginate, pageQuery } from '../pagination.js';
import type { ProjectStore } from '../projects/index.js';
import type { RouteDef } from '../route.js';
import { pgText } from '../validation.js';
import type { BackupService } from './types.js';

export const backupIdParam = z.string().regex(/^[a-z]{2,8}_[0-9A-Za-z_-]{1,100}$/, { error: 'expected a backup id like bkp_20260125T143000Z_1a2b3c4d' });
const backupParams = dbParams.extend({ backup_id: backupIdParam });

const trueFalse = z.enum(['true', 'false'], { error: 'expected true or false' }).optional();

const backupSchema = z.object({
  id: z.string(),
  type: z.enum(['manual', 'automated']),
  status: z.enum(['pending', 'running', 'completed', 'failed', 'interrupted']),
  label: z.string().nullable(),
  size_bytes: z.number().int().nullable(),
  original_size_bytes: z.number().int().nullable(),
  created_at: z.string(),
  expires_at: z.string().nullable(),
  start_lsn: z.string().nullable(),
  stop_lsn: z.string().nullable(),
  stop_time: z.string().nullable(),
  timeline: z.number().int().nullable(),
  pinned: z.boolean(),
  wal_included: z.boolean().nullable(),
  error: z.string().nullable(),
  progress: z.object({ phase: z.string(), bytes_done: z.number(), bytes_total_estimate: z.number().nullable(), current_archive: z.string().nullable() }).nullable(),
});

const downloadSchema = z.object({
  download_url: z.string(),
  expires_at: z.string(),
  compression: z.string(),
  files: z.array(z.object({ name: z.string(), url: z.string(), size_bytes: z.number().int(), original_size_bytes: z.number().int(), sha256: z.string() })),
});

const retentionSchema = z.object({
  database: z.string(),
  dry_run: z.boolean(),
  started_at: z.string(),
  finished_at: z.string(),
  resumed: z.object({ backups: z.array(z.string()), wal_segments: z.number().int() }),
  plan: z.unknown(),
  deleted: z.object({ backups: z.array(z.string()), wal_segments: z.number().int(), histories: z.array(z.number().int()) }),
});

export function backupRoutes(deps: { projects: ProjectStore; databases: DatabaseService; backups: BackupService }): RouteDef[] {
  const { backups } = deps;
  const route = projectRouteFactory(deps, 'backups');
  const backup = objectRouteFactory(route, 'backup_id', backupIdParam);
  const base = '/projects/:project_id/databases/:name/backups';
  return [
    route({
      method: 'GET',
      url: base,
      summary: 'Base backups of a database, newest first',
      params: dbParams,
      query: pageQuery,
      response: z.object({ backups: z.array(backupSchema), next_cursor: z.string().nullable(), total_count: z.number().int() }),
      async handler({ params, query }) {
        const all = await backups.list(params.project_id, params.name);
        // Negated time: paginate sorts ascending, the list is newest first; the id breaks ties.
        const page = paginate(all, (b) => [-Date.parse(b.created_at), b.id], 2, query);
        return { backups: page.items, next_cursor: page.next_cursor, total_count: all.length };
      },
    }),
    route({
      method: 'POST',
      url: base,
      summary: 'Start a manual base backup; answers at once with the pending backup (BACKUP_IN_PROGRESS while one runs)',
      params: dbParams,
      body: z.strictObject({ label: pgText(1, 200).nullable().optional() }),
      status: 202,
      idempotent: true,
      response: backupSchema,
      async handler({ params, body }) {
        return backups.create(params.project_id, params.name, body?.label ?? null);
      },
    }),
    backup({ method: 'GET', url: `${base}/:backup_id`, summary: 'One base backup, with its progress while it runs', response: backupSchema, call: (p, n, id) => backups.get(p, n, id) }),
    route({
      method: 'GET',
      url: `${base}/:backup_id/download`,
      summary: 'Signed, expiring URLs of the stored backup objects (base.tar first)',
      params: backupParams,
      query: noQuery,
      response: downloadSchema,
      async handler({ params, request }) {
        return backups.download(params.project_id, params.name, params.backup_id, { host: request.headers.host });
      },
    }),
    route({
      method: 'DELETE',
      url: `${base}/:backup_id`,
      summary: 'Delete a base backup (not a running one; a pinned one only with ?force=true)',
      params: backupParams,
      query: z.strictObject({ force: trueFalse.describe('also delete a pinned backup; default false') }),
      response: z.object({ id: z.string(), deleted: z.literal(true) }),
      async handler({ params, query }) {
        return backups.remove(params.project_id, params.name, params.backup_id, query.force === 'true');
      },
    }),
    route({
      method: 'POST',
      url: '/projects/:project_id/databases/:name/retention/run',
      summary: 'Apply the retention policy now; ?dry_run=true only reports what would be deleted',
      params: dbParams,
      query: z.strictObject({ dry_run: trueFalse.describe('report, delete nothing; default false') }),
      response: retentionSchema,
      async handler({ params, query }) {
        return backups.runRetention(params.project_id, params.name, query.dry_run === 'true');
      },
    }),
  ];
}
