import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { TOKEN_PATTERN } from '../auth/index.js';
import { loggedError } from '../errors.js';

/** Object paths pino replaces before anything is written. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'authorization',
  'password',
  '*.password',
  '*.*.password',
  'connection_string',
  '*.connection_string',
  'token',
  '*.token',
  'secret_access_key',
  '*.secret_access_key',
  'idempotency_key',
];

/**
 * Free text can carry secrets too (an error message quoting a connection string): mask API
 * tokens, URL passwords (`postgres://user:pw@`) and conninfo `password=...`.
 */
export function scrubSecrets(text: string): string {
  return text
    .replace(TOKEN_PATTERN, 'pitrd_[REDACTED]')
    // Greedy up to the last '@': a password may itself contain '@' (over-masking is the safe side).
    .replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)\S*@/gi, '$1[REDACTED]@')
    .replace(/(password\s*=\s*)('[^']*'|\S+)/gi, '$1[REDACTED]');
}

/** Paths whose query string is a credential (the fs driver's signed download URLs). */
const SIGNED_PATHS = ['/v1/objects/'];
/** Query parameters that carry a secret on any route (S3 presigned URLs, tokens in URLs). */
const SECRET_PARAM = /^(sig|signature|token|access_token|password|secret|x-amz-signature|x-amz-credential|x-amz-security-token)$/i;

/**
 * A request target as it may be logged: the query of a signed route is dropped whole (it is the
 * credential), and secret-named parameters of any other route are masked.
 */
export function redactRequestUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return scrubSecrets(url);
  const path = url.slice(0, q);
  if (SIGNED_PATHS.some((p) => path.includes(p))) return `${scrubSecrets(path)}?[REDACTED]`;
  const query = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = eq < 0 ? pair : pair.slice(0, eq);
      let decoded = name;
      try {
        decoded = decodeURIComponent(name);
      } catch {
        /* a malformed name is logged as sent */
      }
      return eq >= 0 && SECRET_PARAM.test(decoded) ? `${name}=[REDACTED]` : pair;
    })
    .join('&');
  return scrubSecrets(`${path}?${query}`);
}

function scrubDeep(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return scrubSecrets(value);
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => scrubDeep(v, depth + 1));
  return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, scrubDeep(v, depth + 1)]));
}

export interface ApiLoggerOptions {
  level?: LoggerOptions['level'];
  /** Where lines go (tests pass a stream to capture them); stdout by default. */
  destination?: DestinationStream;
}

export function createApiLogger(opts: ApiLoggerOptions = {}): Logger {
  const options: LoggerOptions = {
    level: opts.level ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
    serializers: {
      // Every error, thrown here or logged as loggedError() by a receiver thread, is one shape:
      // type, code, message, stack, context, cause; secrets scrubbed from all of it.
      err: (err: unknown) => scrubDeep(err instanceof Error ? loggedError(err) : err),
      cause: (err: unknown) => scrubDeep(err instanceof Error ? loggedError(err) : err),
      // Never the headers (Authorization) or the body: method, path and peer are enough.
      req: (req: { method?: string; url?: string; ip?: string; socket?: { remoteAddress?: string } }) => ({
        method: req.method,
        url: redactRequestUrl(req.url ?? ''),
        remoteAddress: req.ip ?? req.socket?.remoteAddress,
      }),
      res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
    },
    hooks: {
      logMethod(args, method) {
        method.apply(this, args.map((a) => (typeof a === 'string' ? scrubSecrets(a) : a)) as Parameters<typeof method>);
      },
    },
  };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}
