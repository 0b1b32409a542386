import { z } from 'zod';
import { canAccessProject, isAllProjects, type Principal } from '../../auth/index.js';
import { PitrdError } from '../../errors.js';
import { paginate, pageQuery } from '../pagination.js';
import { defineRoute, type RouteDef } from '../route.js';
import type { DatabaseRegistry, Project, ProjectStore } from './types.js';

export const PROJECT_NAME_RE = /^[a-z][a-z0-9_-]{0,62}$/;

export const projectName = z
  .string()
  .regex(PROJECT_NAME_RE, { error: 'expected 1-63 characters: a lower-case letter, then lower-case letters, digits, "-" or "_"' });
/** Project ids from the API (`proj_…`) and from the configuration file (`default`, …). */
export const projectIdParam = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, { error: 'expected a project id like proj_abc123' });

const projectSchema = z.object({
  id: z.string(),
  name: z.string(),
  created_at: z.iso.datetime({ offset: true }),
  source: z.enum(['api', 'config']).optional(),
});
const idParams = z.strictObject({ id: projectIdParam });

export function principalOf(p: Principal | null): Principal {
  // Only reachable if a route were mis-declared as public; fail closed.
  if (!p) throw new PitrdError('AUTH_REQUIRED', 'this endpoint needs an API token');
  return p;
}

/**
 * A token not scoped to the project gets the same PROJECT_NOT_FOUND as a project that does not
 * exist, so a token cannot be used to probe which project ids exist.
 */
async function visibleProject(projects: ProjectStore, principal: Principal, id: string): Promise<Project> {
  const project = canAccessProject(principal, id) ? await projects.get(id) : null;
  if (!project) throw new PitrdError('PROJECT_NOT_FOUND', `project ${id} not found`, { context: { project_id: id } });
  return project;
}

export function projectRoutes(deps: { projects: ProjectStore; databases: DatabaseRegistry }): RouteDef[] {
  const { projects, databases } = deps;
  return [
    defineRoute({
      method: 'GET',
      url: '/projects',
      summary: 'List the projects this token can see',
      tags: ['projects'],
      query: pageQuery,
      response: z.object({ projects: z.array(projectSchema), next_cursor: z.string().nullable() }),
      async handler({ query, principal }) {
        const p = principalOf(principal);
        const all = (await projects.list()).filter((x) => canAccessProject(p, x.id));
        const page = paginate(all, (x) => [x.created_at, x.id], 2, query);
        return { projects: page.items, next_cursor: page.next_cursor };
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/projects',
      summary: 'Create a project (needs a token scoped to "*")',
      tags: ['projects'],
      body: z.strictObject({ name: projectName }),
      response: projectSchema,
      status: 201,
      idempotent: true,
      async handler({ body, principal }) {
        const p = principalOf(principal);
        if (!isAllProjects(p)) {
          throw new PitrdError('FORBIDDEN', `token ${p.tokenId} is scoped to specific projects and cannot create projects; use a token created with --project '*'`, {
            context: { token_id: p.tokenId },
          });
        }
        return projects.create(body.name);
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/projects/:id',
      summary: 'Get a project',
      tags: ['projects'],
      params: idParams,
      response: projectSchema,
      async handler({ params, principal }) {
        return visibleProject(projects, principalOf(principal), params.id);
      },
    }),
    defineRoute({
      method: 'DELETE',
      url: '/projects/:id',
      summary: 'Delete a project that has no databases',
      tags: ['projects'],
      params: idParams,
      response: z.object({ id: z.string(), deleted: z.literal(true) }),
      async handler({ params, principal }) {
        const project = await visibleProject(projects, principalOf(principal), params.id);
        if (project.source === 'config') {
          throw new PitrdError('CONFLICT', `project ${project.id} is named by the configuration file (databases[].project); remove its databases there, then restart the daemon`, {
            context: { project_id: project.id },
          });
        }
        const dbs = await databases.listByProject(project.id);
        if (dbs.length > 0) {
          const names = dbs.map((d) => d.name);
          throw new PitrdError('CONFLICT', `project ${project.id} still has ${dbs.length} database(s) (${names.join(', ')}); delete them first`, {
            context: { project_id: project.id, databases: names },
          });
        }
        // Deleted by someone else between the read and now: same answer as absent.
        if (!(await projects.delete(project.id))) throw new PitrdError('PROJECT_NOT_FOUND', `project ${project.id} not found`, { context: { project_id: project.id } });
        return { id: project.id, deleted: true as const };
      },
    }),
  ];
}
