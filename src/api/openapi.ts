import { z } from 'zod';
import { ErrorCodes } from '../errors.js';
import { ROUTE_POLICIES } from './policy.js';
import type { RouteDef, RoutePolicy } from './route.js';

type JsonSchema = Record<string, unknown>;

function toSchema(schema: z.ZodType): JsonSchema {
  // io 'input': what a client sends (query strings before coercion); unrepresentable parts
  // (transforms) become {} instead of throwing.
  const js = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any', target: 'openapi-3.0' }) as JsonSchema;
  delete js.$schema;
  return js;
}

function parametersOf(schema: z.ZodType | undefined, where: 'path' | 'query'): JsonSchema[] {
  if (!schema) return [];
  const js = toSchema(schema);
  const props = (js.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((js.required ?? []) as string[]);
  return Object.entries(props).map(([name, s]) => {
    const { description, ...rest } = s;
    return { name, in: where, required: where === 'path' || required.has(name), schema: rest, ...(description !== undefined ? { description } : {}) };
  });
}

const ERROR_ENVELOPE: JsonSchema = {
  type: 'object',
  required: ['success', 'error'],
  properties: {
    success: { type: 'boolean', enum: [false] },
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string', enum: Object.keys(ErrorCodes) }, message: { type: 'string' } },
    },
  },
};

export interface OpenApiInfo {
  title: string;
  version: string;
}

/** An OpenAPI 3.0 document generated from the registered routes' zod schemas. */
export function buildOpenApi(routes: readonly RouteDef[], info: OpenApiInfo): JsonSchema {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    const policy: RoutePolicy | undefined = r.policy ?? ROUTE_POLICIES[`${r.method} ${r.url}`];
    const status = String(r.status ?? 200);
    const data = toSchema(r.response);
    const success = r.raw
      ? { description: 'OK', content: { [r.raw.contentType.split(';')[0]!]: { schema: data } } }
      : {
          description: 'OK',
          content: {
            'application/json': {
              schema: { type: 'object', required: ['success', 'data'], properties: { success: { type: 'boolean', enum: [true] }, data } },
            },
          },
        };
    const parameters = [...parametersOf(r.params, 'path'), ...parametersOf(r.query, 'query')];
    if (r.idempotent) {
      parameters.push({
        name: 'Idempotency-Key',
        in: 'header',
        required: false,
        schema: { type: 'string', minLength: 1, maxLength: 255 },
        description: 'retrying with the same key returns the first response; keys expire after 24 h',
      });
    }
    const op: Record<string, unknown> = {
      summary: r.summary,
      operationId: `${r.method.toLowerCase()}${path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}` || 'root',
      ...(r.tags ? { tags: r.tags } : {}),
      ...(parameters.length ? { parameters } : {}),
      // A body whose fields are all optional may be left out (createApi takes no body as {}).
      ...(r.body ? { requestBody: { required: !r.body.safeParse({}).success, content: { 'application/json': { schema: toSchema(r.body) } } } } : {}),
      responses: {
        [status]: success,
        default: { description: 'error', content: { 'application/json': { schema: { $ref: '#/components/schemas/ErrorEnvelope' } } } },
      },
      security: policy?.auth === 'none' ? [] : [{ bearerAuth: [] }],
      'x-pitrd-auth': policy?.auth,
      'x-pitrd-rate-limit': policy?.rateLimit,
    };
    (paths[path] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.0.3',
    info,
    paths,
    components: {
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', description: 'pitrd_<id>_<secret> token from `pitrd token create`' } },
      schemas: { ErrorEnvelope: ERROR_ENVELOPE },
    },
  };
}
