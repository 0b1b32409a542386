/**
 * Branches (seed 000's db.branch.*, scoped to a protected database): create = a restore to a
 * point in time left running (202, then poll until status "running" and use connection_uri);
 * list (cursor pages), get, delete (stops the server, removes its data directory).
 */
import { z } from 'zod';
import { backupIdParam } from '../backups/routes.js';
import { databaseNameParam, dbParams, projectIdParam } from '../databases/common.js';
import { objectRouteFactory, projectRouteFactory } from '../databases/db-route.js';
import type { DatabaseService } from '../databases/types.js';
import { paginate, pageQuery } from '../pagination.js';
import type { ProjectStore } from '../projects/index.js';
import { objectIdParam, targetBody, targetFields } from '../restores/index.js';
import type { RouteDef } from '../route.js';
import type { BranchService } from './types.js';

export const branchIdParam = objectIdParam('branch', 'br_20260125T143000Z_1a2b3c4d');

const branchSchema = z.object({
  id: z.string(),
  branch_name: z.string(),
  project_id: z.string(),
  database: z.string(),
  status: z.enum(['creating', 'running', 'stopped', 'failed']),
  connection_uri: z.string().nullable(),
  host: z.string(),
  port: z.number().int().nullable(),
  restore_id: z.string().nullable(),
  target_kind: z.enum(['time', 'lsn', 'xid', 'name', 'latest', 'immediate']),
  target_time: z.string().nullable(),
  backup_id: z.string().nullable(),
  data_dir: z.string(),
  created_at: z.string(),
  error: z.string().nullable(),
});

const createBody = z.strictObject({
  branch_name: databaseNameParam.describe('unique among the database\'s branches'),
  ...targetFields,
  backup_id: backupIdParam.optional().describe('restore from this base backup (default: the newest that reaches the target)'),
});

export function branchRoutes(deps: { projects: ProjectStore; databases: DatabaseService; branches: BranchService }): RouteDef[] {
  const { branches } = deps;
  const route = projectRouteFactory(deps, 'branches');
  const base = '/projects/:project_id/databases/:name/branches';
  const branch = objectRouteFactory(route, 'branch_id', branchIdParam);
  return [
    route({
      method: 'POST',
      url: base,
      summary: 'Create a branch: a running copy of the database at a point in time (default: the end of the archived WAL); 202, poll until running',
      params: dbParams,
      body: createBody,
      status: 202,
      idempotent: true,
      response: branchSchema,
      async handler({ params, body }) {
        return branches.create(params.project_id, params.name, {
          branchName: body.branch_name,
          target: targetBody(body),
          ...(body.backup_id !== undefined ? { backupId: body.backup_id } : {}),
        });
      },
    }),
    route({
      method: 'GET',
      url: base,
      summary: 'Branches of a database, oldest first',
      params: dbParams,
      query: pageQuery,
      response: z.object({ branches: z.array(branchSchema), next_cursor: z.string().nullable() }),
      async handler({ params, query }) {
        const page = paginate(await branches.list(params.project_id, params.name), (b) => [b.created_at, b.id], 2, query);
        return { branches: page.items, next_cursor: page.next_cursor };
      },
    }),
    route({
      method: 'GET',
      url: '/projects/:project_id/branches',
      summary: 'Branches of every database of a project, oldest first',
      params: z.strictObject({ project_id: projectIdParam }),
      query: pageQuery,
      response: z.object({ branches: z.array(branchSchema), next_cursor: z.string().nullable() }),
      async handler({ params, query }) {
        const page = paginate(await branches.listProject(params.project_id), (b) => [b.created_at, b.id], 2, query);
        return { branches: page.items, next_cursor: page.next_cursor };
      },
    }),
    branch({ method: 'GET', url: `${base}/:branch_id`, summary: 'One branch, with its connection URI once running', response: branchSchema, call: (p, n, id) => branches.get(p, n, id) }),
    branch({
      method: 'DELETE',
      url: `${base}/:branch_id`,
      summary: 'Delete a branch: stop its server and remove its data directory',
      response: z.object({ id: z.string(), deleted: z.literal(true) }),
      call: (p, n, id) => branches.remove(p, n, id),
    }),
  ];
}
