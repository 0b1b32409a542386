import { z } from 'zod';
import { pgTextProblem } from '../pg-text.js';
import { PitrdError } from '../errors.js';

/** Where a value came from, used as the first element of the field path in messages. */
export type InputPart = 'params' | 'query' | 'body' | 'headers';

function joinPath(part: string, path: readonly PropertyKey[]): string {
  let out = part;
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `.${String(p)}`;
  return out;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v = root;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/** One readable line per zod issue, always naming the field path (`body.name: ...`). */
export function describeIssue(part: InputPart, issue: z.core.$ZodIssue, input: unknown): string {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => `${joinPath(part, [...issue.path, k])}: unknown field`).join('; ');
  }
  const at = joinPath(part, issue.path);
  if (issue.code === 'invalid_type') {
    // Say "required" for a missing key so a user knows what to do; otherwise what came instead.
    const v = valueAt(input, issue.path);
    if (v === undefined) return `${at}: required (expected ${issue.expected})`;
    return `${at}: expected ${issue.expected}, received ${kindOf(v)}`;
  }
  return `${at}: ${issue.message}`;
}

/** Parse one part of a request; VALIDATION_ERROR naming every bad field otherwise. */
export function parseInput<S extends z.ZodType>(part: InputPart, schema: S, value: unknown): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const message = r.error.issues.map((i) => describeIssue(part, i, value)).join('; ');
  throw new PitrdError('VALIDATION_ERROR', message, {
    context: { fields: r.error.issues.map((i) => joinPath(part, i.path)) },
  });
}

/** RFC 3339 timestamp with an explicit offset (`Z` or `±hh:mm`), as the API reference uses. */
export const rfc3339 = () => z.iso.datetime({ offset: true, error: 'expected an RFC 3339 timestamp such as 2026-01-25T14:30:00Z' });

/**
 * A string PostgreSQL will read back from a file (a restore point name in postgresql.auto.conf,
 * a backup label in backup_label): refused with a control character, by src/pg-text's one rule.
 */
export const pgText = (min: number, max: number, what = 'characters') =>
  z
    .string()
    .min(min, { error: `expected ${min}-${max} ${what}` })
    .max(max, { error: `expected ${min}-${max} ${what}` })
    .superRefine((v, ctx) => {
      const problem = pgTextProblem(v);
      if (problem !== null) ctx.addIssue({ code: 'custom', message: problem, input: v });
    });
