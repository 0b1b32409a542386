/**
 * Routes under /projects/:project_id/…: the same policy (API token, standard rate limit), a tag,
 * and the project check before the handler runs (PROJECT_NOT_FOUND for a project the token does
 * not see, exactly like a missing one). One helper instead of the same three lines per route.
 */
import type { z } from 'zod';
import type { ProjectStore } from '../projects/index.js';
import { defineRoute, type RouteDef, type RouteSpec } from '../route.js';
import { assertProjectVisible, dbParams, noQuery } from './common.js';
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

export type ProjectRoute = ReturnType<typeof projectRouteFactory>;

/** GET or DELETE of one object of a database, at `url` ending in `/:<id>`. */
export interface ObjectRouteSpec {
  method: 'GET' | 'DELETE';
  url: string;
  summary: string;
  response: z.ZodType;
  /** The service call, with the project, the database and the object's id. */
  call: (projectId: string, name: string, id: string) => Promise<unknown>;
}

/**
 * Routes on one object of a database (a backup, restore or branch by its id): the database's
 * parameters plus the id, no query string, one service call. One helper for the same route shape
 * that backups, restores and branches each had several times.
 */
export function objectRouteFactory(route: ProjectRoute, idName: string, idParam: z.ZodType<string>) {
  const params = dbParams.extend({ [idName]: idParam }) as unknown as z.ZodType<{ project_id: string; name: string } & Record<string, string>>;
  return (spec: ObjectRouteSpec): RouteDef =>
    route({
      method: spec.method,
      url: spec.url,
      summary: spec.summary,
      params,
      query: noQuery,
      response: spec.response,
      async handler({ params: p }) {
        return spec.call(p.project_id, p.name, p[idName]!);
      },
    });
}
