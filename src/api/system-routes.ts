import { z } from 'zod';
import { VERSION } from '../version.js';
import { PROMETHEUS_CONTENT_TYPE, type MetricsRegistry } from './metrics/index.js';
import { principalOf } from './projects/index.js';
import { defineRoute, type RouteDef } from './route.js';

/** Health, the caller's token (GET /auth/me), the OpenAPI document and the Prometheus scrape endpoint. */
export function systemRoutes(deps: { metrics: MetricsRegistry; openapi: () => Record<string, unknown> }): RouteDef[] {
  return [
    defineRoute({
      method: 'GET',
      url: '/',
      summary: 'Health check',
      tags: ['system'],
      response: z.object({ name: z.literal('pitrd'), version: z.string(), status: z.literal('healthy') }),
      async handler() {
        return { name: 'pitrd' as const, version: VERSION, status: 'healthy' as const };
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/auth/me',
      summary: "The calling token: its id, name (also as the reference's login), project scope and rate-limit tier",
      tags: ['system'],
      query: z.strictObject({}),
      response: z.object({ id: z.string(), login: z.string(), name: z.string(), projects: z.array(z.string()), tier: z.enum(['free', 'pro']) }),
      async handler({ principal }) {
        const p = principalOf(principal);
        return { id: p.tokenId, login: p.name, name: p.name, projects: [...p.projects], tier: p.tier };
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/openapi.json',
      summary: 'This API as an OpenAPI 3.0 document',
      tags: ['system'],
      raw: { contentType: 'application/json; charset=utf-8' },
      response: z.object({ openapi: z.string(), info: z.object({ title: z.string(), version: z.string() }), paths: z.record(z.string(), z.unknown()) }).loose(),
      async handler() {
        return deps.openapi() as { openapi: string; info: { title: string; version: string }; paths: Record<string, unknown> };
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/metrics',
      summary: 'Prometheus metrics (text exposition format 0.0.4)',
      tags: ['system'],
      raw: { contentType: PROMETHEUS_CONTENT_TYPE },
      response: z.string(),
      async handler() {
        return deps.metrics.expose();
      },
    }),
  ];
}
