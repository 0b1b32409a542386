/**
 * Restores over HTTP (seed 004): POST …/pitr/restore, GET …/pitr/restores (cursor pages),
 * GET …/pitr/restores/:restore_id, and POST …/backups/:backup_id/restore (to that backup's
 * consistency point unless a target is given). A restore answers 202 once its target is checked
 * and restores/{id}.json exists; it runs in the background, its status is polled.
 */
import { z } from 'zod';
import { backupIdParam } from '../backups/routes.js';
import { dbParams } from '../databases/common.js';
import { objectRouteFactory, projectRouteFactory } from '../databases/db-route.js';
import type { DatabaseService } from '../databases/types.js';
import { paginate, pageQuery } from '../pagination.js';
import type { ProjectStore } from '../projects/index.js';
import type { RouteDef } from '../route.js';
import { restoreIdParam, restoreSchema, targetBody, targetFields } from './schemas.js';
import type { RestoreRequest, RestoreService, TargetBody } from './types.js';

const restoreFields = {
  ...targetFields,
  mode: z
    .enum(['stopped', 'running'], { error: 'expected "stopped" or "running"' })
    .optional()
    .describe('"stopped" (default): a ready-to-start data directory; "running": leave the restored server up and return its connection_uri'),
  target_dir: z
    .string({ error: 'expected a directory path' })
    .min(1, { error: 'expected a directory path' })
    .max(1024, { error: 'at most 1024 characters' })
    .optional()
    .describe("where to restore: a path relative to the daemon's restore root (or absolute inside it); default a new directory there"),
};

const pitrRestoreBody = z.strictObject({
  ...restoreFields,
  before_event: z
    .string({ error: 'expected an event id' })
    .min(1, { error: 'expected an event id' })
    .max(100, { error: 'expected an event id' })
    .optional()
    .describe('restore to just before this event of GET …/pitr/events (its transaction excluded, on its timeline); instead of a target_* field'),
  backup_id: backupIdParam.optional().describe('restore from this base backup (default: the newest that reaches the target)'),
});
const backupRestoreBody = z.strictObject(restoreFields);

const acceptedSchema = restoreSchema.extend({ restore_id: z.string() });

function request(body: TargetBody & { mode?: 'stopped' | 'running' | undefined; target_dir?: string | undefined }, defaultTarget: RestoreRequest['defaultTarget'], backupId: string | undefined): RestoreRequest {
  return {
    target: { ...targetBody(body), ...(body.before_event !== undefined ? { before_event: body.before_event } : {}) },
    defaultTarget,
    mode: body.mode ?? 'stopped',
    ...(body.target_dir !== undefined ? { targetDir: body.target_dir } : {}),
    ...(backupId !== undefined ? { backupId } : {}),
  };
}

export function restoreRoutes(deps: { projects: ProjectStore; databases: DatabaseService; restores: RestoreService }): RouteDef[] {
  const { restores } = deps;
  const route = projectRouteFactory(deps, 'pitr');
  const restore = objectRouteFactory(route, 'restore_id', restoreIdParam);
  const base = '/projects/:project_id/databases/:name';
  return [
    route({
      method: 'POST',
      url: `${base}/pitr/restore`,
      summary: 'Restore to a point in time (target_time / target_lsn / target_xid / target_name / target / before_event); 202, then poll the restore',
      params: dbParams,
      body: pitrRestoreBody,
      status: 202,
      idempotent: true,
      response: acceptedSchema,
      async handler({ params, body }) {
        const v = await restores.start(params.project_id, params.name, request(body, null, body.backup_id));
        return { restore_id: v.id, ...v };
      },
    }),
    route({
      method: 'GET',
      url: `${base}/pitr/restores`,
      summary: 'Restores of a database, newest first',
      params: dbParams,
      query: pageQuery,
      response: z.object({ restores: z.array(restoreSchema), next_cursor: z.string().nullable(), total_count: z.number().int() }),
      async handler({ params, query }) {
        const all = await restores.list(params.project_id, params.name);
        const page = paginate(all, (r) => [-Date.parse(r.started_at), r.id], 2, query);
        return { restores: page.items, next_cursor: page.next_cursor, total_count: all.length };
      },
    }),
    restore({ method: 'GET', url: `${base}/pitr/restores/:restore_id`, summary: 'Status of one restore', response: restoreSchema, call: (p, n, id) => restores.get(p, n, id) }),
    restore({
      method: 'DELETE',
      url: `${base}/pitr/restores/:restore_id`,
      summary: "Stop a restore's server (mode running) and remove its data directory; the record stays, with removed_at. 409 while it runs or for a branch's restore",
      response: restoreSchema,
      call: (p, n, id) => restores.remove(p, n, id),
    }),
    route({
      method: 'POST',
      url: `${base}/backups/:backup_id/restore`,
      summary: "Restore a base backup: to its consistency point, or to a later target reachable from it; 202, then poll the restore",
      params: dbParams.extend({ backup_id: backupIdParam }),
      body: backupRestoreBody,
      status: 202,
      idempotent: true,
      response: acceptedSchema,
      async handler({ params, body }) {
        const v = await restores.start(params.project_id, params.name, request(body, 'immediate', params.backup_id));
        return { restore_id: v.id, ...v };
      },
    }),
  ];
}
