import type { RoutePolicy } from './route.js';

/**
 * Every route src/api registers, with its auth requirement and rate-limit class: the one place
 * to review who can call what. createApi refuses to start if a route has no entry here (or its
 * own `policy`, for routes contributed by other modules).
 */
export const ROUTE_POLICIES: Readonly<Record<string, RoutePolicy>> = Object.freeze({
  'GET /': { auth: 'none', rateLimit: 'exempt' },
  'GET /openapi.json': { auth: 'none', rateLimit: 'exempt' },
  // Every project's series: a '*' token or a scrape token (api.token_hashes), each with its bucket.
  'GET /metrics': { auth: 'metrics', rateLimit: 'standard' },
  'GET /auth/me': { auth: 'token', rateLimit: 'standard' },
  'GET /projects': { auth: 'token', rateLimit: 'standard' },
  'POST /projects': { auth: 'token', rateLimit: 'standard' },
  'GET /projects/:id': { auth: 'token', rateLimit: 'standard' },
  'DELETE /projects/:id': { auth: 'token', rateLimit: 'standard' },
});
