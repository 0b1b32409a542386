import { PitrdError } from '../errors.js';

/**
 * Marker in the names of the fs driver's in-flight temp files. Keys may not contain it, so a
 * listing can skip temp files without ever confusing them with an object.
 */
export const TEMP_MARKER = '.pitrd-tmp-';

/**
 * Object keys are '/'-separated relative paths: no leading '/', no '..' or '.' segment, no empty
 * segment (so no trailing '/'). The same rule holds for every driver so that a repository can be
 * copied between them.
 */
export function validateKey(key: string): string {
  const why = keyProblem(key, false);
  if (why) throw new PitrdError('VALIDATION_ERROR', `invalid object key ${JSON.stringify(key)}: ${why}`, { context: { key } });
  return key;
}

/**
 * A list prefix follows the key rules except that it may be empty, may end with '/', and its
 * last segment may be partial ("wal/00000001" lists every segment name starting with that).
 */
export function validatePrefix(prefix: string): string {
  if (prefix === '') return prefix;
  const why = keyProblem(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix, true);
  if (why) throw new PitrdError('VALIDATION_ERROR', `invalid list prefix ${JSON.stringify(prefix)}: ${why}`, { context: { prefix } });
  return prefix;
}

function keyProblem(key: string, isPrefix: boolean): string | null {
  if (typeof key !== 'string' || key.length === 0) return 'empty';
  if (key.startsWith('/')) return "starts with '/'";
  if (key.includes('\0')) return 'contains a NUL byte';
  if (key.includes('\\')) return "contains '\\'";
  if (Buffer.byteLength(key) > 1024) return 'longer than 1024 bytes';
  if (key.includes(TEMP_MARKER)) return `contains the reserved marker ${TEMP_MARKER}`;
  const segments = key.split('/');
  for (const s of segments) {
    if (s === '') return 'has an empty segment';
    if (s === '..') return "has a '..' segment";
    if (s === '.') return "has a '.' segment";
  }
  void isPrefix;
  return null;
}
