import { z } from 'zod';
import { paginate, pageQuery } from '../pagination.js';
import type { ProjectStore } from '../projects/index.js';
import { defineRoute, type RouteDef, type RoutePolicy } from '../route.js';
import { assertProjectVisible, databaseNameParam, dbParams, noQuery, projectIdParam } from './common.js';
import { SSL_MODE_VALUES, type DatabaseService } from './types.js';

/** Every database route: an API token, one rate-limit token per request. */
export const DATABASE_ROUTE_POLICY: RoutePolicy = Object.freeze({ auth: 'token', rateLimit: 'standard' });

const databaseSchema = z.object({
  id: z.string(),
  name: z.string(),
  project_id: z.string(),
  source: z.enum(['config', 'api']),
  host: z.string(),
  port: z.number().int(),
  user: z.string(),
  database: z.string(),
  sslmode: z.enum(SSL_MODE_VALUES),
  pitr_enabled: z.boolean(),
  status: z.string(),
  created_at: z.string().nullable(),
  pg_major: z.number().int().nullable().describe("the server's PostgreSQL major (13 to 18); null until known (read at registration, or when the receiver or a base backup first reached the server)"),
  restore_binaries: z
    .object({ available: z.boolean().describe('this host has server binaries of pg_major (postgres.bin_dirs or discovery): restores and branches can run') })
    .nullable()
    .describe('null while pg_major is unknown'),
});

const PORT_MSG = 'expected a number from 1 to 65535';
const nonEmpty = (what: string, max = 255) =>
  z.string({ error: `expected ${what}` }).min(1, { error: `expected ${what}, not an empty string` }).max(max, { error: `at most ${max} characters` });

const registerBody = z.strictObject({
  name: databaseNameParam,
  host: nonEmpty('a host name, address or socket directory'),
  port: z.int({ error: PORT_MSG }).min(1, { error: PORT_MSG }).max(65535, { error: PORT_MSG }).default(5432),
  user: nonEmpty('a user name', 63).default('postgres'),
  password: z.string({ error: 'expected a password string' }).max(1024, { error: 'at most 1024 characters' }).optional(),
  dbname: nonEmpty('a database name', 63).default('postgres'),
  sslmode: z.enum(SSL_MODE_VALUES, { error: `expected one of ${SSL_MODE_VALUES.join(', ')}` }).default('prefer'),
});

const deleteQuery = z.strictObject({
  delete_data: z.enum(['true', 'false'], { error: 'expected true or false' }).optional().describe('also delete the database\'s repository data (WAL, backups); default false'),
});

/** `postgresql://user@host:port/db?sslmode=…` — deliberately without the password. */
export function connectionString(v: { user: string; host: string; port: number; database: string; sslmode: string }): string {
  const host = v.host.includes(':') && !v.host.startsWith('[') ? `[${v.host}]` : v.host;
  return `postgresql://${encodeURIComponent(v.user)}@${host}:${v.port}/${encodeURIComponent(v.database)}?sslmode=${v.sslmode}`;
}

export function databaseRoutes(deps: { projects: ProjectStore; databases: DatabaseService }): RouteDef[] {
  const { projects, databases } = deps;
  const base = '/projects/:project_id/databases';
  return [
    defineRoute({
      method: 'GET',
      url: base,
      summary: 'List the databases of a project',
      tags: ['databases'],
      policy: DATABASE_ROUTE_POLICY,
      params: z.strictObject({ project_id: projectIdParam }),
      query: pageQuery,
      response: z.object({ databases: z.array(databaseSchema), next_cursor: z.string().nullable() }),
      async handler({ params, query, principal }) {
        await assertProjectVisible(projects, databases, principal, params.project_id);
        const page = paginate(await databases.list(params.project_id), (d) => [d.name], 1, query);
        return { databases: page.items, next_cursor: page.next_cursor };
      },
    }),
    defineRoute({
      method: 'POST',
      url: base,
      summary: 'Register an existing PostgreSQL server to protect (its connection details); a server that answers with a major other than 13 to 18 is refused (POSTGRES_VERSION_UNSUPPORTED)',
      tags: ['databases'],
      policy: DATABASE_ROUTE_POLICY,
      params: z.strictObject({ project_id: projectIdParam }),
      body: registerBody,
      response: databaseSchema,
      status: 201,
      idempotent: true,
      async handler({ params, body, principal }) {
        await assertProjectVisible(projects, databases, principal, params.project_id);
        return databases.register(params.project_id, body);
      },
    }),
    defineRoute({
      method: 'GET',
      url: `${base}/:name`,
      summary: 'Get a database',
      tags: ['databases'],
      policy: DATABASE_ROUTE_POLICY,
      params: dbParams,
      query: noQuery,
      response: databaseSchema,
      async handler({ params, principal }) {
        await assertProjectVisible(projects, databases, principal, params.project_id);
        return databases.get(params.project_id, params.name);
      },
    }),
    defineRoute({
      method: 'GET',
      url: `${base}/:name/url`,
      summary: 'Connection details of a database (never the password)',
      tags: ['databases'],
      policy: DATABASE_ROUTE_POLICY,
      params: dbParams,
      query: noQuery,
      response: z.object({ host: z.string(), port: z.number().int(), database: z.string(), user: z.string(), sslmode: z.string(), connection_string: z.string() }),
      async handler({ params, principal }) {
        await assertProjectVisible(projects, databases, principal, params.project_id);
        const d = await databases.get(params.project_id, params.name);
        const v = { host: d.host, port: d.port, database: d.database, user: d.user, sslmode: d.sslmode };
        return { ...v, connection_string: connectionString(v) };
      },
    }),
    defineRoute({
      method: 'DELETE',
      url: `${base}/:name`,
      summary: 'Stop protecting a database; ?delete_data=true also deletes its repository data',
      tags: ['databases'],
      policy: DATABASE_ROUTE_POLICY,
      params: dbParams,
      query: deleteQuery,
      response: z.object({ name: z.string(), deleted: z.literal(true), data_deleted: z.boolean(), objects_deleted: z.number().int() }),
      async handler({ params, query, principal }) {
        await assertProjectVisible(projects, databases, principal, params.project_id);
        const r = await databases.remove(params.project_id, params.name, query.delete_data === 'true');
        return { name: params.name, deleted: true as const, ...r };
      },
    }),
  ];
}
