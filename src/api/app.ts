import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { z } from 'zod';
import { isAllProjects, type Principal, type Tier, type TokenVerifier } from '../auth/index.js';
import { errorMessage, PitrdError } from '../errors.js';
import { AuthFailureLimiter } from './auth-failures.js';
import { VERSION } from '../version.js';
import { ok } from './envelope.js';
import { frameworkErrors, installErrorHandlers, toErrorResponse } from './error-handler.js';
import { fingerprint, IDEMPOTENCY_KEY_RE, IdempotencyCoordinator, MemoryIdempotencyStore, type IdempotencyStore } from './idempotency.js';
import { createApiLogger } from './logger.js';
import { MetricsRegistry } from './metrics/index.js';
import { buildOpenApi } from './openapi.js';
import { ROUTE_POLICIES } from './policy.js';
import { projectRoutes, type DatabaseRegistry, type ProjectStore } from './projects/index.js';
import { DEFAULT_RATE_LIMITS, TokenBucketLimiter, type RateLimit } from './rate-limit.js';
import { routeKey, type RouteDef, type RoutePolicy } from './route.js';
import { systemRoutes } from './system-routes.js';
import { parseInput } from './validation.js';

/**
 * The services the API routes call. Only what exists today is here; the daemon adds the
 * catalog, backups, PITR, restores and receivers by passing their route modules in `routes`
 * (built with defineRoute, so they get auth, limits, validation, idempotency and OpenAPI for free).
 */
export interface ApiServices {
  projects: ProjectStore;
  databases: DatabaseRegistry;
}

export interface CreateApiOptions {
  services: ApiServices;
  auth: TokenVerifier;
  /** A pino logger (createApiLogger() gives one with secret redaction), or false for none. */
  logger?: Logger | false;
  rateLimits?: Partial<Record<Tier, RateLimit>>;
  /** Failed authentications per client address (default DEFAULT_AUTH_FAILURE_LIMIT). */
  authFailureLimit?: RateLimit;
  /** Milliseconds clock for rate limits and idempotency expiry (tests step it). */
  clock?: () => number;
  idempotency?: IdempotencyStore;
  metrics?: MetricsRegistry;
  /**
   * sha256 (hex) of scrape-only bearer tokens accepted by GET /metrics in addition to API
   * tokens for every project ('*'; the config's api.token_hashes): the series name every
   * project's databases, so a project-scoped token may not read them.
   */
  metricsTokenHashes?: readonly string[];
  /** More route modules (the daemon's services). */
  routes?: readonly RouteDef[];
  /** Check every success body against the route's response schema (tests turn this on). */
  validateResponses?: boolean;
  bodyLimit?: number;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    pitrdPolicy?: RoutePolicy;
  }
}

const BEARER_RE = /^Bearer[ ]+([^\s]+)[ ]*$/i;
const idempotencyBodyField = z.string().regex(IDEMPOTENCY_KEY_RE, { error: 'expected 1-255 printable ASCII characters' }).optional();

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

export async function createApi(opts: CreateApiOptions): Promise<FastifyInstance> {
  const clock = opts.clock ?? Date.now;
  const metrics = opts.metrics ?? new MetricsRegistry();
  const limiter = new TokenBucketLimiter({ ...DEFAULT_RATE_LIMITS, ...opts.rateLimits }, clock);
  const idem = new IdempotencyCoordinator(opts.idempotency ?? new MemoryIdempotencyStore(), clock);
  const authFailures = new AuthFailureLimiter(opts.authFailureLimit, clock);
  const metricsHashes = (opts.metricsTokenHashes ?? []).map((h) => Buffer.from(h, 'hex'));
  const logger = opts.logger === undefined ? createApiLogger() : opts.logger;

  // Typed as the default instance: callers need inject/listen/close, not pino's generic parameter.
  const app = Fastify({
    ...(logger ? { loggerInstance: logger } : { logger: false }),
    bodyLimit: opts.bodyLimit ?? 1024 * 1024,
    // Random ids, never taken from a request header: a 5xx message quotes the id of the log
    // line that has the details, and a client must not be able to choose or guess it.
    requestIdHeader: false,
    genReqId: () => `req_${randomBytes(8).toString('hex')}`,
    frameworkErrors,
  }) as unknown as FastifyInstance;
  app.decorateRequest('principal', null);
  installErrorHandlers(app);
  // Clients that send `Content-Type: application/json` on every request (seed 000's helper does)
  // send it on GETs and DELETEs without a body too: that is no body, not an empty JSON document.
  const jsonParser = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    if (body === '' && (req.method === 'GET' || req.method === 'DELETE' || req.method === 'HEAD')) return done(null, undefined);
    return jsonParser(req, body as string, done);
  });

  const requests = metrics.counter('pitrd_http_requests_total', 'HTTP requests answered, by route and status', ['method', 'route', 'status']);
  const durations = metrics.histogram('pitrd_http_request_duration_seconds', 'HTTP request duration in seconds, by route', ['method', 'route']);
  app.addHook('onResponse', async (req, reply) => {
    // Unmatched paths share one label so random URLs cannot blow up the series count.
    const route = req.routeOptions.url ?? 'unmatched';
    requests.inc({ method: req.method, route, status: String(reply.statusCode) });
    durations.observe({ method: req.method, route }, reply.elapsedTime / 1000);
  });

  /**
   * Who is calling, and the bucket their requests spend from (null: not limited). A failure
   * counts against the client address; an address out of failures is refused before its token
   * is checked.
   */
  async function authenticate(req: FastifyRequest, reply: FastifyReply, policy: RoutePolicy): Promise<{ key: string; tier: Tier } | null> {
    if (policy.auth === 'none') return null;
    const address = req.ip;
    const wait = authFailures.blockedFor(address);
    if (wait > 0) {
      void reply.header('Retry-After', wait);
      throw new PitrdError('AUTH_RATE_LIMITED', `too many failed authentications from this address; retry in ${wait} s`, { context: { address, retry_after_s: wait } });
    }
    try {
      return await identify(req, policy);
    } catch (err) {
      if (err instanceof PitrdError && err.code === 'AUTH_REQUIRED') authFailures.failed(address);
      throw err;
    }
  }

  async function identify(req: FastifyRequest, policy: RoutePolicy): Promise<{ key: string; tier: Tier }> {
    const header = req.headers.authorization;
    if (header === undefined) throw new PitrdError('AUTH_REQUIRED', 'missing Authorization header: send "Authorization: Bearer <token>" (create one with `pitrd token create`)');
    const m = BEARER_RE.exec(header);
    if (!m) throw new PitrdError('AUTH_REQUIRED', 'malformed Authorization header: expected "Bearer <token>"');
    const bearer = m[1]!;
    if (policy.auth === 'metrics' && metricsHashes.length > 0) {
      const h = sha256(bearer);
      let match = -1;
      metricsHashes.forEach((allowed, i) => {
        if (allowed.length === h.length && timingSafeEqual(allowed, h)) match = i;
      });
      // Each scrape token has its own bucket, at the pro tier: scrapers poll on a schedule.
      if (match >= 0) return { key: `scrape:${match}`, tier: 'pro' };
    }
    let principal: Principal | null;
    try {
      principal = await opts.auth.verify(bearer);
    } catch (err) {
      // A broken tokens file is the server's problem, not the caller's: 500, details in the log.
      throw new PitrdError('INTERNAL_ERROR', `cannot verify API tokens: ${errorMessage(err)}`, { cause: err, public: 'cannot verify API tokens right now' });
    }
    if (!principal) throw new PitrdError('AUTH_REQUIRED', 'invalid or revoked API token');
    if (policy.auth === 'metrics' && !isAllProjects(principal)) {
      throw new PitrdError('FORBIDDEN', `token ${principal.tokenId} is scoped to specific projects; /metrics shows every project's databases and needs a token created with --project '*' or a scrape token listed in api.token_hashes`, {
        context: { token_id: principal.tokenId },
      });
    }
    req.principal = principal;
    return { key: principal.tokenId, tier: principal.tier };
  }

  const routes: RouteDef[] = [];
  // What OpenAPI shows: the routes as served (idempotent bodies include idempotency_key).
  const documented: RouteDef[] = [];
  const openapi = () => buildOpenApi(documented, { title: 'pitrd API', version: VERSION });
  let openapiCache: Record<string, unknown> | null = null;
  routes.push(
    ...systemRoutes({ metrics, openapi: () => (openapiCache ??= openapi()) }),
    ...projectRoutes(opts.services),
    ...(opts.routes ?? []),
  );

  for (const def of routes) {
    const policy = def.policy ?? ROUTE_POLICIES[routeKey(def.method, def.url)];
    if (!policy) throw new Error(`route ${def.method} ${def.url} has no auth/rate-limit policy: add it to src/api/policy.ts or pass one`);
    if (def.method === 'POST' && def.status === 201 && !def.idempotent) {
      throw new Error(`route POST ${def.url} creates something (201) but is not idempotent: set idempotent: true`);
    }
    const bodySchema = def.idempotent ? withIdempotencyField(def) : def.body;
    // A POST whose fields are all optional may come without a body (curl -X POST, no -d).
    const emptyBodyOk = bodySchema !== undefined && bodySchema.safeParse({}).success;
    documented.push(bodySchema === def.body ? def : { ...def, body: bodySchema });

    app.route({
      method: def.method,
      url: def.url,
      config: { pitrdPolicy: policy },
      onRequest: async (req, reply) => {
        const caller = await authenticate(req, reply, policy);
        if (policy.rateLimit === 'standard' && caller) {
          const d = limiter.take(caller.key, caller.tier);
          void reply.header('X-RateLimit-Limit', d.limit.perMinute);
          void reply.header('X-RateLimit-Burst', d.limit.burst);
          void reply.header('X-RateLimit-Remaining', d.remaining);
          void reply.header('X-RateLimit-Reset', d.resetSeconds);
          if (!d.allowed) {
            void reply.header('Retry-After', d.retryAfterSeconds);
            throw new PitrdError('RATE_LIMIT_EXCEEDED', `rate limit of the ${caller.tier} tier exceeded (${d.limit.perMinute}/min, burst ${d.limit.burst}); retry in ${d.retryAfterSeconds} s`, {
              context: { token_id: caller.key, retry_after_s: d.retryAfterSeconds },
            });
          }
        }
      },
      handler: async (req, reply) => {
        const params = def.params ? parseInput('params', def.params, req.params) : undefined;
        const query = def.query ? parseInput('query', def.query, req.query ?? {}) : undefined;
        const rawBody = req.body === undefined && emptyBodyOk ? {} : req.body;
        let body = bodySchema ? (parseInput('body', bodySchema, rawBody) as Record<string, unknown> | undefined) : undefined;
        const ctx = { params, query, body, principal: req.principal, request: req, reply };

        const execute = async (): Promise<{ status: number; body: unknown }> => {
          try {
            const data = await def.handler(ctx);
            if (opts.validateResponses) {
              const r = def.response.safeParse(data);
              if (!r.success) throw new Error(`response of ${def.method} ${def.url} does not match its schema: ${r.error.message}`);
            }
            return { status: def.status ?? 200, body: def.raw ? data : ok(data) };
          } catch (err) {
            const r = toErrorResponse(err);
            // Server errors propagate (logged, not stored for idempotent replay); client errors are final answers.
            if (r.internal) throw err;
            return { status: r.status, body: r.body };
          }
        };

        let outcome: { status: number; body: unknown };
        if (def.idempotent) {
          const key = idempotencyKeyOf(req, body);
          if (body && 'idempotency_key' in body) {
            const { idempotency_key: _drop, ...rest } = body;
            body = rest;
            ctx.body = rest;
          }
          if (key !== undefined && req.principal) {
            const path = req.url.split('?')[0] ?? req.url;
            const res = await idem.run(`${req.principal.tokenId}:${key}`, fingerprint(req.method, path, body ?? null), execute);
            if (res.replayed) void reply.header('Idempotent-Replayed', 'true');
            outcome = res;
          } else outcome = await execute();
        } else outcome = await execute();

        void reply.code(outcome.status);
        if (def.raw) void reply.type(def.raw.contentType);
        return reply.send(def.raw && typeof outcome.body !== 'string' ? JSON.stringify(outcome.body) : outcome.body);
      },
    });
  }
  return app;
}

function withIdempotencyField(def: RouteDef): z.ZodType {
  const body = def.body;
  if (!(body instanceof z.ZodObject)) throw new Error(`idempotent route ${def.method} ${def.url} needs an object body schema`);
  return body.extend({ idempotency_key: idempotencyBodyField });
}

/** The key from the header or the body field (seed 000's spelling); both must agree when both are sent. */
function idempotencyKeyOf(req: FastifyRequest, body: Record<string, unknown> | undefined): string | undefined {
  const raw = req.headers['idempotency-key'];
  if (Array.isArray(raw)) throw new PitrdError('VALIDATION_ERROR', 'headers.idempotency-key: send the header once', { context: { fields: ['headers.idempotency-key'] } });
  if (raw !== undefined && !IDEMPOTENCY_KEY_RE.test(raw)) {
    throw new PitrdError('VALIDATION_ERROR', 'headers.idempotency-key: expected 1-255 printable ASCII characters', { context: { fields: ['headers.idempotency-key'] } });
  }
  const fromBody = typeof body?.idempotency_key === 'string' ? body.idempotency_key : undefined;
  if (raw !== undefined && fromBody !== undefined && raw !== fromBody) {
    throw new PitrdError('VALIDATION_ERROR', 'body.idempotency_key: differs from the Idempotency-Key header; send one or make them equal', { context: { fields: ['body.idempotency_key'] } });
  }
  return raw ?? fromBody;
}

