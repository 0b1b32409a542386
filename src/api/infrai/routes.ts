/**
 * infrai's `/v1/db/…` routes (shared/seeds/000) exactly as its clients call them: same methods,
 * paths and field names, bare JSON answers (no envelope: `Project`, `{items, next_cursor}` with
 * next_cursor absent on the last page, `{ok: true}`), `idempotency_key` in the body of creating
 * calls. Errors keep pitrd's error body `{success:false, error:{code, message}}` with the stable
 * codes of src/errors.ts (the reference does not spell its own). Auth: a pitrd API token as the
 * Bearer key; it reaches the infrai projects (databases) of its pitrd projects (./types.ts).
 */
import { z } from 'zod';
import { isAllProjects } from '../../auth/index.js';
import { PitrdError } from '../../errors.js';
import { paginate, pageQuery } from '../pagination.js';
import { principalOf } from '../projects/index.js';
import { defineRoute, type RouteDef, type RoutePolicy } from '../route.js';
import type { Principal } from '../../auth/index.js';
import type { InfraiScope, InfraiService } from './types.js';

/** An API token, one rate-limit token per request (as every database route). */
export const INFRAI_ROUTE_POLICY: RoutePolicy = Object.freeze({ auth: 'token', rateLimit: 'standard' });
/** Bare JSON: the reference's clients read the object itself. */
const BARE = { contentType: 'application/json; charset=utf-8' } as const;
const TAG = 'infrai';

/** An id as pitrd issues them (db_…, br_…, bkp_…): letters, digits, "_" and "-". */
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,199}$/;
const anId = (what: string) => z.string().regex(ID_RE, { error: `expected ${what} id (letters, digits, "_" or "-")` }).describe(`the ${what} id`);
/**
 * The reference's `{id}`: named after what it is in pitrd's document (project `id`, `branch_id`,
 * `snapshot_id`); the paths a client calls are the same.
 */
const idParam = (what: 'project' | 'branch' | 'snapshot') => {
  const key = what === 'project' ? 'id' : `${what}_id`;
  return z.strictObject({ [key]: anId(`a ${what}`) }) as unknown as z.ZodType<{ id: string }>;
};
const idOf = (params: unknown): string => Object.values(params as Record<string, string>)[0]!;
const text = (what: string, max = 200) => z.string({ error: `expected ${what}` }).min(1, { error: `expected ${what}, not an empty string` }).max(max, { error: `at most ${max} characters` });

const projectSchema = z.object({
  id: z.string(),
  name: z.string(),
  region: z.string().nullable(),
  connection_uri: z.string().nullable(),
  created_at: z.string().nullable(),
  status: z.string(),
  postgres_version: z.string().nullable(),
});
const branchSchema = z.object({ id: z.string(), branch_name: z.string(), project_id: z.string(), connection_uri: z.string().nullable(), status: z.string(), created_at: z.string() });
const snapshotSchema = z.object({ id: z.string(), project_id: z.string(), label: z.string().nullable(), created_at: z.string(), status: z.string() });
const okSchema = z.object({ ok: z.boolean() });
const listOf = (item: z.ZodType) => z.object({ items: z.array(item), next_cursor: z.string().optional() });
const filteredPage = pageQuery.extend({ project_id: anId('a project').optional().describe('only this project\'s') });

function scopeOf(principal: Principal | null): InfraiScope {
  const p = principalOf(principal);
  return { allProjects: isAllProjects(p), projects: p.projects };
}

/** `{items, next_cursor}`, next_cursor only when there is a next page (the reference's `next_cursor?`). */
function page<T extends { id: string }>(items: readonly T[], query: { limit?: number | undefined; cursor?: string | undefined }, key: (t: T) => string): { items: T[]; next_cursor?: string } {
  const p = paginate(items, (x) => [key(x), x.id], 2, query);
  return p.next_cursor === null ? { items: p.items } : { items: p.items, next_cursor: p.next_cursor };
}

export function infraiRoutes(deps: { infrai: InfraiService }): RouteDef[] {
  const svc = deps.infrai;
  const route = (r: Omit<Parameters<typeof defineRoute>[0], 'policy' | 'tags' | 'raw'>): RouteDef =>
    defineRoute({ ...r, policy: INFRAI_ROUTE_POLICY, tags: [TAG], raw: BARE } as Parameters<typeof defineRoute>[0]);
  const at = (p: string) => `/v1/db/${p}`;
  return [
    route({
      method: 'POST',
      url: at('project/create'),
      summary: 'db.project.create: a new managed PostgreSQL instance on the pitrd host (vendor and mode are accepted; pitrd is the only vendor)',
      body: z.strictObject({
        name: text('a project name', 200),
        vendor: text('a vendor name', 63).optional().describe('accepted and ignored: pitrd runs the instance itself'),
        region: text('a region name', 63).optional(),
        plan: text('a plan name', 63).optional().describe('accepted, not interpreted (the instance runs on the daemon host)'),
        mode: z.enum(['managed', 'byok'], { error: 'expected "managed" or "byok"' }).optional(),
        postgres_version: z.string({ error: 'expected a PostgreSQL major as a string, e.g. "15"' }).regex(/^[0-9]{1,3}$/, { error: 'expected a PostgreSQL major, e.g. "15"' }).optional(),
      }),
      response: projectSchema,
      idempotent: true,
      async handler({ body, principal }) {
        const b = body as { name: string; region?: string; plan?: string; mode?: string; postgres_version?: string };
        if (b.mode === 'byok') {
          throw new PitrdError('VALIDATION_ERROR', 'body.mode: "byok" (bring your own vendor key) is not available: pitrd runs the instance itself; omit mode or send "managed"', { context: { fields: ['body.mode'] } });
        }
        return svc.createProject(scopeOf(principal), { name: b.name, region: b.region, plan: b.plan, postgres_version: b.postgres_version });
      },
    }),
    route({
      method: 'GET',
      url: at('project/get/:id'),
      summary: 'db.project.get: a project with its connection URI',
      params: idParam('project'),
      query: z.strictObject({}),
      response: projectSchema,
      handler: async ({ params, principal }) => svc.getProject(scopeOf(principal), idOf(params)),
    }),
    route({
      method: 'GET',
      url: at('project/list'),
      summary: 'db.project.list: the projects the token reaches, oldest first',
      query: pageQuery,
      response: listOf(projectSchema),
      handler: async ({ query, principal }) => page(await svc.listProjects(scopeOf(principal)), query as object, (x) => x.created_at ?? ''),
    }),
    route({
      method: 'DELETE',
      url: at('project/delete/:id'),
      summary: 'db.project.delete: the project with its branches and snapshots (its server and data directory too when pitrd runs it)',
      params: idParam('project'),
      query: z.strictObject({}),
      response: okSchema,
      async handler({ params, principal }) {
        await svc.deleteProject(scopeOf(principal), idOf(params));
        return { ok: true };
      },
    }),
    route({
      method: 'POST',
      url: at('branch/create'),
      summary: 'db.branch.create: a branch of a project (a copy of it at the end of its archive, with its own server)',
      body: z.strictObject({
        project_id: anId('a project'),
        branch_name: z.string({ error: 'expected a branch name' }).regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, { error: 'expected 1-63 characters of a-z, 0-9, "_" or "-", starting with a letter or digit' }),
        from_branch: text('a branch id or "main"').optional().describe('"main" (or the project itself) only'),
      }),
      response: branchSchema,
      idempotent: true,
      handler: async ({ body, principal }) => svc.createBranch(scopeOf(principal), body as { project_id: string; branch_name: string; from_branch?: string }),
    }),
    route({
      method: 'GET',
      url: at('branch/get/:branch_id'),
      summary: 'db.branch.get: a branch with its connection URI',
      params: idParam('branch'),
      query: z.strictObject({}),
      response: branchSchema,
      handler: async ({ params, principal }) => svc.getBranch(scopeOf(principal), idOf(params)),
    }),
    route({
      method: 'GET',
      url: at('branch/list'),
      summary: 'db.branch.list: branches (of one project with project_id), oldest first',
      query: filteredPage,
      response: listOf(branchSchema),
      async handler({ query, principal }) {
        const q = query as { project_id?: string; limit?: number; cursor?: string };
        return page(await svc.listBranches(scopeOf(principal), q.project_id), q, (x) => x.created_at);
      },
    }),
    route({
      method: 'DELETE',
      url: at('branch/delete/:branch_id'),
      summary: 'db.branch.delete: stops the branch server and removes its data directory',
      params: idParam('branch'),
      query: z.strictObject({}),
      response: okSchema,
      async handler({ params, principal }) {
        await svc.deleteBranch(scopeOf(principal), idOf(params));
        return { ok: true };
      },
    }),
    route({
      method: 'POST',
      url: at('snapshot/create'),
      summary: 'db.snapshot.create: a base backup of the project (status pending until stored)',
      body: z.strictObject({ project_id: anId('a project'), label: text('a label', 200).optional() }),
      response: snapshotSchema,
      idempotent: true,
      handler: async ({ body, principal }) => svc.createSnapshot(scopeOf(principal), body as { project_id: string; label?: string }),
    }),
    route({
      method: 'GET',
      url: at('snapshot/get/:snapshot_id'),
      summary: 'db.snapshot.get: a snapshot (base backup)',
      params: idParam('snapshot'),
      query: z.strictObject({}),
      response: snapshotSchema,
      handler: async ({ params, principal }) => svc.getSnapshot(scopeOf(principal), idOf(params)),
    }),
    route({
      method: 'GET',
      url: at('snapshot/list'),
      summary: 'db.snapshot.list: snapshots (of one project with project_id), oldest first',
      query: filteredPage,
      response: listOf(snapshotSchema),
      async handler({ query, principal }) {
        const q = query as { project_id?: string; limit?: number; cursor?: string };
        return page(await svc.listSnapshots(scopeOf(principal), q.project_id), q, (x) => x.created_at);
      },
    }),
    route({
      method: 'POST',
      url: at('snapshot/restore/:snapshot_id'),
      summary: 'db.snapshot.restore: a new managed project restored from the snapshot (provisioning, then running)',
      params: idParam('snapshot'),
      body: z.strictObject({
        snapshot_id: anId('the snapshot').optional().describe('the reference sends it; must equal the path id'),
        new_name: text('a project name').optional().describe('default: the source name with a -restored suffix'),
      }),
      response: projectSchema,
      idempotent: true,
      async handler({ params, body, principal }) {
        const id = idOf(params);
        const b = body as { snapshot_id?: string; new_name?: string };
        if (b.snapshot_id !== undefined && b.snapshot_id !== id) {
          throw new PitrdError('VALIDATION_ERROR', `body.snapshot_id: "${b.snapshot_id}" differs from the snapshot id in the path ("${id}"); send the same one or omit it`, { context: { fields: ['body.snapshot_id'] } });
        }
        return svc.restoreSnapshot(scopeOf(principal), id, { new_name: b.new_name });
      },
    }),
  ];
}
