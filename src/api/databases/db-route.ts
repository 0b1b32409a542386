/**
 * Routes under /projects/:project_id/…: the same policy (API token, standard rate limit), a tag,
 * and the project check before the handler runs (PROJECT_NOT_FOUND for a project the token does
 * not see, exactly like a missing one). One helper instead of the same three lines per route.
 */
import type { z } from 'zod';
import type { ProjectStore } from '../projects/index.js';
import { defineRoute, type RouteDef, type RouteSpec } from '../route.js';
import { assertProjectVisible } from './common.js';
import { DATABASE_ROUTE_POLICY } from './routes.js';
import type { DatabaseService } from './types.js';

type ProjectParams = z.ZodType<{ project_id: string }>;

export type ProjectRouteSpec<P extends ProjectParams, Q extends z.ZodType | undefined, B extends z.ZodType | undefined, R extends z.ZodType> = Omit<
  RouteSpec<P, Q, B, R>,
  'policy' | 'tags' | 'params'
> & { params: P };

export function projectRouteFactory(deps: { projects: ProjectStore; databases: DatabaseService }, tag: string) {
  return function projectRoute<P extends ProjectParams, Q extends z.ZodType | undefined = undefined, B extends z.ZodType | undefined = undefined, R extends z.ZodType = z.ZodType>(
    spec: ProjectRouteSpec<P, Q, B, R>,
  ): RouteDef {
    return defineRoute<P, Q, B, R>({
      ...spec,
      tags: [tag],
      policy: DATABASE_ROUTE_POLICY,
      async handler(ctx) {
        await assertProjectVisible(deps.projects, deps.databases, ctx.principal, (ctx.params as { project_id: string }).project_id);
        return spec.handler(ctx);
      },
    });
  };
}
