import { readFileSync } from 'node:fs';
import { PitrdError } from '../errors.js';
import type { ConnectionConfig } from './schema.js';

export const REDACTED = '[redacted]';

/**
 * A 32-byte AES-256 key written as 64 hex characters or as base64. `where` names the config key or
 * variable in errors; the value itself never appears in a message.
 */
export function parseEncryptionKey(text: string, where: string): Buffer {
  const t = text.trim();
  let key: Buffer | null = null;
  if (/^[0-9a-fA-F]{64}$/.test(t)) key = Buffer.from(t, 'hex');
  else if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(t)) {
    const b = Buffer.from(t, 'base64');
    if (b.length === 32) key = b;
  }
  if (!key) {
    throw new PitrdError('CONFIG_INVALID', `${where}: expected a 32-byte key as 64 hex characters or base64 (value not shown; it is ${t.length} characters long)`, {
      context: { key: where },
    });
  }
  return key;
}

/** Read a secret file (key, password): trailing newline removed, unreadable = CONFIG_INVALID. */
export function readSecretFile(path: string, where: string): string {
  try {
    return readFileSync(path, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new PitrdError('CONFIG_INVALID', `${where}: cannot read "${path}" (${reason})`, { context: { key: where, path }, cause: err });
  }
}

/**
 * The password for a connection, read from password_file at call time (so a rotated file is
 * picked up on the next connection), or undefined for trust/peer/.pgpass authentication.
 */
export function connectionPassword(conn: ConnectionConfig, where = 'connection.password_file'): string | undefined {
  if (conn.password !== undefined) return conn.password;
  if (conn.password_file !== undefined) return readSecretFile(conn.password_file, where);
  return undefined;
}
