import type { RoutePolicy } from './route.js';

/**
 * Every route src/api registers, with its auth requirement and rate-limit class: the one place
 * to review who can call what. createApi refuses to start if a route has no entry here (or its
 * own `policy`, for routes contributed by other modules).
 */
export const ROUTE_POLICIES: Readonly<Record<string, RoutePolicy>> = Object.freeze({
  'GET /': { auth: 'none', rateLimit: 'exempt' },
  'GET /openapi.json': { auth: 'none', rateLimit: 'exempt' },
  // Scrapers poll on a fixed schedule; limiting them would only create gaps in the graphs.
  'GET /metrics': { auth: 'metrics', rateLimit: 'exempt' },
  'GET /projects': { auth: 'token', rateLimit: 'standard' },
  'POST /projects': { auth: 'token', rateLimit: 'standard' },
  'GET /projects/:id': { auth: 'token', rateLimit: 'standard' },
  'DELETE /projects/:id': { auth: 'token', rateLimit: 'standard' },
});
