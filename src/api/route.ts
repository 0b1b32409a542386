import type { FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { Principal } from '../auth/index.js';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/**
 * Who may call a route and whether it spends rate-limit tokens.
 * - auth 'none': public (health, OpenAPI document).
 * - auth 'token': an API token (AUTH_REQUIRED otherwise).
 * - auth 'metrics': an API token for every project ('*'), or a scrape-only token whose sha256 is configured.
 * - rateLimit 'standard': one token from the caller's bucket per request (tier from the token;
 *   scrape tokens: the pro tier).
 * Whatever the route, failed authentications are limited per client address (./auth-failures.ts).
 */
export interface RoutePolicy {
  auth: 'none' | 'token' | 'metrics';
  rateLimit: 'exempt' | 'standard';
}

export interface RouteContext<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  /** Set for auth 'token' routes; null on public routes and scrape-only metrics tokens. */
  principal: Principal | null;
  request: FastifyRequest;
  reply: FastifyReply;
}

type Out<S> = S extends z.ZodType ? z.output<S> : undefined;

export interface RouteSpec<P extends z.ZodType | undefined, Q extends z.ZodType | undefined, B extends z.ZodType | undefined, R extends z.ZodType> {
  method: HttpMethod;
  /** Fastify path syntax: `/projects/:id`. */
  url: string;
  summary: string;
  tags?: string[];
  params?: P;
  query?: Q;
  /** Must be a strict object for idempotent routes (the idempotency_key field is added to it). */
  body?: B;
  /** Schema of `data` in the success envelope (or of the whole body for raw routes). */
  response: R;
  /** Success status, 200 by default (201 for creates). */
  status?: number;
  /** Creating POST: honours `Idempotency-Key` / `idempotency_key`. */
  idempotent?: boolean;
  /**
   * Sent as-is, without the envelope: only for documents consumed by standard tools
   * (the OpenAPI document, Prometheus text). Their errors still use the envelope.
   */
  raw?: { contentType: string };
  /** Overrides the table in ./policy.ts (for routes defined outside src/api). */
  policy?: RoutePolicy;
  handler: (ctx: RouteContext<Out<P>, Out<Q>, Out<B>>) => Promise<z.input<R>>;
}

/** A route with its types erased, as the app factory and the OpenAPI generator see it. */
export interface RouteDef {
  method: HttpMethod;
  url: string;
  summary: string;
  tags?: string[];
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  response: z.ZodType;
  status?: number;
  idempotent?: boolean;
  raw?: { contentType: string };
  policy?: RoutePolicy;
  handler: (ctx: RouteContext<unknown, unknown, unknown>) => Promise<unknown>;
}

/** Declare a route with zod schemas: they validate the request and document it in OpenAPI. */
export function defineRoute<
  P extends z.ZodType | undefined = undefined,
  Q extends z.ZodType | undefined = undefined,
  B extends z.ZodType | undefined = undefined,
  R extends z.ZodType = z.ZodType,
>(spec: RouteSpec<P, Q, B, R>): RouteDef {
  // The handler's parameter types are guaranteed by parsing with the same schemas before calling it.
  return spec as unknown as RouteDef;
}

export function routeKey(method: string, url: string): string {
  return `${method} ${url}`;
}
