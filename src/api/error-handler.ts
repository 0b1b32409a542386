import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCodes, isPitrdError, publicErrorOf, type ErrorCode } from '../errors.js';
import { fail, type ErrorEnvelope } from './envelope.js';

export interface ErrorResponse {
  status: number;
  body: ErrorEnvelope;
}

/** Fastify's own 4xx errors, in the API's vocabulary (never its FST_* codes or messages). */
const FASTIFY_ERRORS: Record<string, string> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'request body is not valid JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'request body is empty but Content-Type is application/json',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported Content-Type: send application/json',
  FST_ERR_CTP_BODY_TOO_LARGE: 'request body is too large',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'Content-Length does not match the request body',
  // Raised by the router, before any route runs (fastify's frameworkErrors).
  FST_ERR_BAD_URL: 'the request path is not valid percent-encoding',
  FST_ERR_MAX_PARAM_LENGTH: 'a path parameter is too long (at most 100 characters)',
};

/** Fastify's `frameworkErrors` option: router errors in the envelope too (they skip the error handler). */
export function frameworkErrors(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  const r = toErrorResponse(err, req.id);
  req.log.info({ code: r.body.error.code }, r.body.error.message);
  void reply.code(r.status).type('application/json; charset=utf-8').send(r.body);
}

/**
 * Map anything thrown to the error envelope. A PitrdError keeps its code; the client reads its
 * public message (src/errors.ts: a 4xx message, or a safe text per code for a 5xx, whose details
 * go to the log only: they may name hosts, buckets, paths, SQL or PostgreSQL's log). Known client
 * mistakes caught by fastify become VALIDATION_ERROR; anything else is INTERNAL_ERROR. A server
 * error's message gives the request id, which the log line of the details carries too.
 */
export function toErrorResponse(err: unknown, requestId?: string): ErrorResponse & { internal: boolean } {
  const withId = (m: string) => `${m}; the daemon log has the details${requestId !== undefined ? ` (request ${requestId})` : ''}`;
  if (isPitrdError(err)) {
    const internal = err.httpStatus >= 500;
    return { status: err.httpStatus, body: fail(err.code, internal ? withId(err.publicMessage) : err.publicMessage), internal };
  }
  const fe = err as Partial<FastifyError> | null;
  const known = typeof fe?.code === 'string' ? FASTIFY_ERRORS[fe.code] : undefined;
  if (known !== undefined) return { status: ErrorCodes.VALIDATION_ERROR, body: fail('VALIDATION_ERROR', known), internal: false };
  if (err instanceof SyntaxError && (fe?.statusCode === 400)) {
    return { status: ErrorCodes.VALIDATION_ERROR, body: fail('VALIDATION_ERROR', 'request body is not valid JSON'), internal: false };
  }
  return { status: ErrorCodes.INTERNAL_ERROR, body: fail('INTERNAL_ERROR', withId(publicErrorOf(err).message)), internal: true };
}

export function errorResponseFor(code: ErrorCode, message: string): ErrorResponse {
  return { status: ErrorCodes[code], body: fail(code, message) };
}

export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err, req, reply) => {
    const r = toErrorResponse(err, req.id);
    if (r.internal) req.log.error({ err, cause: (err as { cause?: unknown }).cause }, 'request failed');
    else req.log.info({ code: r.body.error.code }, r.body.error.message);
    void reply.code(r.status).type('application/json; charset=utf-8').send(r.body);
  });
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0] ?? req.url;
    void reply.code(ErrorCodes.NOT_FOUND).send(fail('NOT_FOUND', `no route ${req.method} ${path}`));
  });
}
