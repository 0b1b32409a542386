import { createHash, randomBytes } from 'node:crypto';

/**
 * API token format: `pitrd_<id>_<secret>`.
 *
 * The id (12 hex chars, not secret) lets the verifier find the one stored record to compare with,
 * so verification costs one hash and one constant-time compare regardless of how many tokens exist.
 * The secret is 32 random bytes (256 bits) in base64url.
 *
 * Why sha256 and not a slow hash (bcrypt/scrypt/argon2): slow hashes exist to make guessing
 * low-entropy human passwords expensive. A 256-bit random secret cannot be guessed; even an
 * attacker holding the tokens file would need ~2^255 sha256 evaluations. A fast hash keeps
 * per-request verification cheap without weakening anything.
 */
export const TOKEN_PREFIX = 'pitrd';
const ID_RE = /^[0-9a-f]{12}$/;
const SECRET_RE = /^[A-Za-z0-9_-]{43}$/;

export interface ParsedToken {
  id: string;
  secret: string;
}

export function newTokenId(): string {
  return randomBytes(6).toString('hex');
}

export function newTokenSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function formatToken(id: string, secret: string): string {
  return `${TOKEN_PREFIX}_${id}_${secret}`;
}

/** null for anything that is not a well-formed token (the caller answers AUTH_REQUIRED). */
export function parseToken(text: string): ParsedToken | null {
  if (!text.startsWith(`${TOKEN_PREFIX}_`)) return null;
  const rest = text.slice(TOKEN_PREFIX.length + 1);
  const sep = rest.indexOf('_');
  if (sep < 0) return null;
  const id = rest.slice(0, sep);
  const secret = rest.slice(sep + 1);
  if (!ID_RE.test(id) || !SECRET_RE.test(secret)) return null;
  return { id, secret };
}

/** sha256 of the secret, hex: what the tokens file stores. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Matches anything shaped like a token, for scrubbing log text. */
export const TOKEN_PATTERN = /pitrd_[0-9a-f]{12}_[A-Za-z0-9_-]{20,}/g;
