import { z } from 'zod';
import { paginate, pageQuery } from '../pagination.js';
import type { ProjectStore } from '../projects/index.js';
import { defineRoute, type RouteDef, type RoutePolicy } from '../route.js';
import { assertProjectVisible, databaseNameParam, dbParams, noQuery, projectIdParam } from './common.js';
import { PitrdError } from '../../errors.js';
import { SSL_MODE_VALUES, type DatabaseService, type DatabaseView } from './types.js';

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
  region: z.string().nullable(),
  managed: z.boolean(),
  error: z.string().nullable().optional(),
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

const sizeHint = (what: string) => z.number({ error: `expected a positive number (${what})` }).positive({ error: `expected a positive number (${what})` }).optional();

/**
 * One body, two requests: with `host`, an existing server is registered (its connection
 * details); without it, pitrd creates and runs the instance itself (Postbase's "provision":
 * `{name, region?, config?}`). Defaults of the connection fields apply only with `host`.
 */
const createBody = z.strictObject({
  name: databaseNameParam,
  host: nonEmpty('a host name, address or socket directory').optional().describe('an existing server to protect; omit it to have pitrd create the instance'),
  port: z.int({ error: PORT_MSG }).min(1, { error: PORT_MSG }).max(65535, { error: PORT_MSG }).optional().describe('with host; default 5432'),
  user: nonEmpty('a user name', 63).optional().describe('with host; default postgres'),
  password: z.string({ error: 'expected a password string' }).max(1024, { error: 'at most 1024 characters' }).optional().describe('with host'),
  dbname: nonEmpty('a database name', 63).optional().describe('with host; default postgres'),
  sslmode: z.enum(SSL_MODE_VALUES, { error: `expected one of ${SSL_MODE_VALUES.join(', ')}` }).optional().describe('with host; default prefer'),
  region: nonEmpty('a region name', 63).optional().describe('recorded on the database'),
  config: z
    .strictObject({ cpu: sizeHint('CPUs'), memory: sizeHint('MB'), storage: sizeHint('GB') })
    .optional()
    .describe('without host: sizing hints, recorded (the instance runs on the daemon host)'),
  postgres_version: z.string({ error: 'expected a PostgreSQL major as a string, e.g. "15"' }).regex(/^[0-9]{1,3}$/, { error: 'expected a PostgreSQL major, e.g. "15"' }).optional().describe('without host: PostgreSQL major of the new instance'),
});
type CreateBody = z.output<typeof createBody>;

const CONNECTION_FIELDS = ['port', 'user', 'password', 'dbname', 'sslmode'] as const;
const PROVISION_FIELDS = ['config', 'postgres_version'] as const;

function fieldError(field: string, message: string): PitrdError {
  return new PitrdError('VALIDATION_ERROR', `body.${field}: ${message}`, { context: { fields: [`body.${field}`] } });
}

/** Register (with host) or provision (without); a field of the other kind is refused by name. */
async function createDatabase(databases: DatabaseService, projectId: string, body: CreateBody): Promise<DatabaseView> {
  if (body.host === undefined) {
    const extra = CONNECTION_FIELDS.find((f) => body[f] !== undefined);
    if (extra) throw fieldError(extra, 'only with body.host (registering an existing server); without host pitrd creates the instance and chooses its connection details');
    if (!databases.provision) throw fieldError('host', 'required: this daemon only registers existing servers');
    return databases.provision(projectId, {
      name: body.name,
      region: body.region,
      config: body.config,
      postgresVersion: body.postgres_version === undefined ? undefined : Number(body.postgres_version),
    });
  }
  const extra = PROVISION_FIELDS.find((f) => body[f] !== undefined);
  if (extra) throw fieldError(extra, 'only without body.host (a database pitrd creates); a registered server runs its own configuration');
  return databases.register(projectId, {
    name: body.name,
    host: body.host,
    port: body.port ?? 5432,
    user: body.user ?? 'postgres',
    password: body.password,
    dbname: body.dbname ?? 'postgres',
    sslmode: body.sslmode ?? 'prefer',
    region: body.region,
  });
}

const deleteQuery = z.strictObject({
  delete_data: z.enum(['true', 'false'], { error: 'expected true or false' }).optional().describe('also delete the database\'s repository data (WAL, backups); default false'),
});

/**
 * `postgresql://user@host:port/db?sslmode=…`: without the password, except for a managed
 * instance's (pitrd generated it for the client; a registered server's is never shown).
 */
export function connectionString(v: { user: string; host: string; port: number; database: string; sslmode: string; password?: string | undefined }): string {
  const host = v.host.includes(':') && !v.host.startsWith('[') ? `[${v.host}]` : v.host;
  const auth = v.password !== undefined ? `${encodeURIComponent(v.user)}:${encodeURIComponent(v.password)}` : encodeURIComponent(v.user);
  return `postgresql://${auth}@${host}:${v.port}/${encodeURIComponent(v.database)}?sslmode=${v.sslmode}`;
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
      summary: 'Create a database: with host, register an existing PostgreSQL server to protect (a server that answers with a major other than 13 to 18 is refused: POSTGRES_VERSION_UNSUPPORTED); without it, pitrd creates and runs the instance (status provisioning, then running)',
      tags: ['databases'],
      policy: DATABASE_ROUTE_POLICY,
      params: z.strictObject({ project_id: projectIdParam }),
      body: createBody,
      response: databaseSchema,
      status: 201,
      idempotent: true,
      async handler({ params, body, principal }) {
        await assertProjectVisible(projects, databases, principal, params.project_id);
        return createDatabase(databases, params.project_id, body);
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
      summary: 'Connection details of a database (the password only for a managed instance: pitrd generated it for the client)',
      tags: ['databases'],
      policy: DATABASE_ROUTE_POLICY,
      params: dbParams,
      query: noQuery,
      response: z.object({ host: z.string(), port: z.number().int(), database: z.string(), user: z.string(), sslmode: z.string(), connection_string: z.string() }),
      async handler({ params, principal }) {
        await assertProjectVisible(projects, databases, principal, params.project_id);
        const v = databases.connection ? await databases.connection(params.project_id, params.name) : await databases.get(params.project_id, params.name);
        const { password, ...shown } = { host: v.host, port: v.port, database: v.database, user: v.user, sslmode: v.sslmode, password: 'password' in v ? v.password : undefined };
        return { ...shown, connection_string: connectionString({ ...shown, password }) };
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
