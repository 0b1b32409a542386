/**
 * The certificate and key files of a source's TLS settings, read at each connection so that a
 * renewed certificate is used without a restart. The private key must not be readable by others,
 * with libpq's rule (fe-secure-openssl.c): 0600 or less when owned by the reader, 0640 or less
 * when owned by root.
 */
import { readFileSync, statSync } from 'node:fs';
import { PitrdError } from '../errors.js';
import { describeSource, type SourceConnection, type SourceTls } from './source.js';

export interface TlsMaterial {
  ca?: string;
  cert?: string;
  key?: string;
}

type FileKey = 'sslrootcert' | 'sslcert' | 'sslkey';

export function readTlsMaterial(tls: SourceTls, source: Pick<SourceConnection, 'name' | 'host' | 'port'>): TlsMaterial {
  const out: TlsMaterial = {};
  const read = (key: FileKey, path: string): string => {
    try {
      if (key === 'sslkey') checkKeyMode(path);
      return readFileSync(path, 'utf8');
    } catch (err) {
      if (err instanceof PitrdError) throw problem(source, key, path, err.message, err);
      throw problem(source, key, path, `cannot read it (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`, err);
    }
  };
  if (tls.sslrootcert !== undefined) out.ca = read('sslrootcert', tls.sslrootcert);
  if (tls.sslcert !== undefined) out.cert = read('sslcert', tls.sslcert);
  if (tls.sslkey !== undefined) out.key = read('sslkey', tls.sslkey);
  return out;
}

function checkKeyMode(path: string): void {
  const st = statSync(path);
  const mode = st.mode & 0o777;
  const ownedByMe = typeof process.geteuid === 'function' && st.uid === process.geteuid();
  if (ownedByMe && (mode & 0o077) !== 0) {
    throw new PitrdError('CONFIG_INVALID', `has group or world access (mode ${mode.toString(8)}); it must be 0600 or less (chmod 600)`);
  }
  if (st.uid === 0 && (mode & 0o037) !== 0) {
    throw new PitrdError('CONFIG_INVALID', `has group write or world access (mode ${mode.toString(8)}); owned by root it must be 0640 or less`);
  }
}

function problem(source: Pick<SourceConnection, 'name' | 'host' | 'port'>, key: FileKey, path: string, what: string, cause: unknown): PitrdError {
  return new PitrdError('CONFIG_INVALID', `${describeSource(source)}: connection.${key} "${path}": ${what}`, {
    cause,
    context: { database: source.name, key: `connection.${key}`, path },
  });
}
