import { z } from 'zod';
import { PitrdError } from '../errors.js';

export const DEFAULT_PAGE_LIMIT = 50;
export const MAX_PAGE_LIMIT = 1000;

/** `?limit=` arrives as a string; 1..1000, default 50. */
export const limitParam = z
  .string()
  .regex(/^[0-9]+$/, { error: `expected an integer from 1 to ${MAX_PAGE_LIMIT}` })
  .transform(Number)
  .pipe(z.number().int().min(1, { error: 'must be at least 1' }).max(MAX_PAGE_LIMIT, { error: `must be at most ${MAX_PAGE_LIMIT}` }))
  .optional()
  .describe(`page size, 1..${MAX_PAGE_LIMIT}, default ${DEFAULT_PAGE_LIMIT}`);

export const cursorParam = z.string().min(1).max(1024).optional().describe('opaque cursor: the next_cursor of the previous page');

/** Query schema of every list endpoint (extend it for filters). */
export const pageQuery = z.strictObject({ limit: limitParam, cursor: cursorParam });

/** A sort key: what the cursor remembers of the last item of a page. */
export type SortKey = readonly (string | number)[];

export function encodeCursor(key: SortKey): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

/** Decode a cursor; VALIDATION_ERROR naming `query.cursor` for anything we did not issue. */
export function decodeCursor(cursor: string, arity: number): SortKey {
  const bad = () => new PitrdError('VALIDATION_ERROR', 'query.cursor: not a valid cursor (pass next_cursor from the previous page unchanged)', { context: { fields: ['query.cursor'] } });
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw bad();
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw bad();
  }
  if (!Array.isArray(value) || value.length !== arity || !value.every((v) => typeof v === 'string' || typeof v === 'number')) throw bad();
  return value as SortKey;
}

export function compareKeys(a: SortKey, b: SortKey): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x < y) return -1;
    if (x > y) return 1;
  }
  return a.length - b.length;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/**
 * One page of `items` in sort-key order, starting strictly after the cursor's key. Cursors stay
 * valid while items are added or removed: they remember a key, not an offset.
 */
export function paginate<T>(items: readonly T[], keyOf: (item: T) => SortKey, keyArity: number, query: { limit?: number | undefined; cursor?: string | undefined }): Page<T> {
  const limit = query.limit ?? DEFAULT_PAGE_LIMIT;
  const sorted = [...items].sort((a, b) => compareKeys(keyOf(a), keyOf(b)));
  let start = 0;
  if (query.cursor !== undefined) {
    const after = decodeCursor(query.cursor, keyArity);
    start = sorted.findIndex((it) => compareKeys(keyOf(it), after) > 0);
    if (start < 0) start = sorted.length;
  }
  const page = sorted.slice(start, start + limit);
  const last = page[page.length - 1];
  const more = start + limit < sorted.length;
  return { items: page, next_cursor: more && last !== undefined ? encodeCursor(keyOf(last)) : null };
}
