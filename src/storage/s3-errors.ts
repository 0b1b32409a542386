import { PitrdError, isPitrdError } from '../errors.js';

/** Error names/codes of the AWS SDK and Node that mean "the service is not reachable right now". */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'ServiceUnavailable',
  'SlowDown',
  'InternalError',
  'NetworkingError',
]);

interface SdkErrorShape {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
  cause?: unknown;
  errors?: unknown[];
}

function errCode(err: unknown): string | undefined {
  const e = err as SdkErrorShape | undefined;
  return e?.code ?? e?.Code ?? e?.name;
}

/** True for errors anywhere in the cause chain (or AggregateError members) that are transient. */
function isUnavailable(err: unknown, depth = 0): boolean {
  if (!err || typeof err !== 'object' || depth > 5) return false;
  const e = err as SdkErrorShape;
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && status >= 500) return true;
  const code = errCode(e);
  if (code && UNAVAILABLE_CODES.has(code)) return true;
  if (e.errors?.some((x) => isUnavailable(x, depth + 1))) return true;
  return isUnavailable(e.cause, depth + 1);
}

function isNotFound(err: unknown): boolean {
  const e = err as SdkErrorShape;
  const code = errCode(e);
  return code === 'NoSuchKey' || code === 'NotFound' || (e?.$metadata?.httpStatusCode === 404 && code !== 'NoSuchBucket');
}

/** Map an SDK failure to a PitrdError naming the key, bucket and operation. */
export function mapS3Error(err: unknown, ctx: { op: string; key: string; location: string }): PitrdError {
  if (isPitrdError(err)) return err;
  const e = err as SdkErrorShape;
  const status = e?.$metadata?.httpStatusCode;
  const code = errCode(e);
  const base = { key: ctx.key, op: ctx.op, location: ctx.location, s3Code: code, httpStatus: status };
  if (isNotFound(err)) {
    return new PitrdError('OBJECT_NOT_FOUND', `object ${ctx.key} not found`, { context: base, cause: err });
  }
  if (code === 'PreconditionFailed' || status === 412) {
    return new PitrdError('OBJECT_EXISTS', `object ${ctx.key} already exists`, { context: base, cause: err });
  }
  if (code === 'InvalidRange' || status === 416) {
    return new PitrdError('VALIDATION_ERROR', `byte range not satisfiable for object ${ctx.key} in ${ctx.location}`, {
      context: base,
      cause: err,
    });
  }
  if (isUnavailable(err)) {
    return new PitrdError(
      'STORAGE_UNAVAILABLE',
      `S3 storage ${ctx.location} unavailable during ${ctx.op} of ${ctx.key}: ${code ?? ''} ${e?.message ?? String(err)}`.trim(),
      { context: base, cause: err, retryable: true },
    );
  }
  return new PitrdError('STORAGE_ERROR', `S3 ${ctx.op} of ${ctx.key} in ${ctx.location} failed: ${code ?? ''} ${e?.message ?? String(err)}`, {
    context: base,
    cause: err,
  });
}
