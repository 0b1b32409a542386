import { z } from 'zod';
import { pgTextProblem } from '../pg-text.js';
import { PitrdError } from '../errors.js';
import { formatIssuePath, issueSites, type IssueSite } from '../zod-issues.js';

/** Where a value came from, used as the first element of the field path in messages. */
export type InputPart = 'params' | 'query' | 'body' | 'headers';

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/** One readable line per zod issue, always naming the field path (`body.name: ...`). */
function describeSite(part: InputPart, site: IssueSite): string {
  const at = formatIssuePath([part, ...site.path]);
  if (site.kind === 'unknown-key') return `${at}: unknown field`;
  const { issue } = site;
  if (issue.code === 'invalid_type') {
    // Say "required" for a missing key so a user knows what to do; otherwise what came instead.
    if (site.kind === 'missing') return `${at}: required (expected ${issue.expected})`;
    return `${at}: expected ${issue.expected}, received ${kindOf(site.value)}`;
  }
  return `${at}: ${issue.message}`;
}

/** Parse one part of a request; VALIDATION_ERROR naming every bad field otherwise. */
export function parseInput<S extends z.ZodType>(part: InputPart, schema: S, value: unknown): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const message = issueSites(r.error.issues, value)
    .map((site) => describeSite(part, site))
    .join('; ');
  throw new PitrdError('VALIDATION_ERROR', message, {
    context: { fields: r.error.issues.map((i) => formatIssuePath([part, ...i.path])) },
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
