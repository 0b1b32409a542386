import type { z } from 'zod';
import { formatIssuePath, issueSites } from '../zod-issues.js';

/** Last path segments whose values must never be echoed back in an error message. */
const SECRET_KEYS = new Set(['password', 'secret_access_key', 'access_key_id', 'key', 'token']);

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  const s = JSON.stringify(value) ?? String(value);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function isSecret(path: readonly PropertyKey[]): boolean {
  const last = path[path.length - 1];
  return typeof last === 'string' && SECRET_KEYS.has(last);
}

/**
 * One line per problem: `databases[1].connection.port: expected a number from 1 to 65535, got "abc"`.
 * Zod's own wording is replaced where it speaks of TypeScript types rather than config values.
 */
export function formatIssues(issues: readonly z.core.$ZodIssue[], input: unknown, sources: ReadonlyMap<string, string>): string[] {
  const lines: string[] = [];
  const line = (path: readonly PropertyKey[], reason: string) => {
    const p = formatIssuePath(path);
    const from = sources.get(p);
    lines.push(`${p}${from ? ` (from ${from})` : ''}: ${reason}`);
  };
  for (const site of issueSites(issues, input)) {
    if (site.kind === 'unknown-key') line(site.path, 'unknown key');
    // A failed discriminator is reported at the discriminator's own path by zod 4.
    else if (site.kind === 'missing') line(site.path, `required: ${reasonOf(site.issue)}`);
    else line(site.path, `${reasonOf(site.issue)}${isSecret(site.path) ? '' : `, got ${describe(site.value)}`}`);
  }
  return lines;
}

function reasonOf(issue: z.core.$ZodIssue): string {
  // Messages set in the schema start with "expected" or are explicit sentences; zod's defaults
  // start with "Invalid input"/"Too big" and read better rephrased.
  const m = issue.message;
  if (!/^(Invalid|Too (big|small)|Unrecognized)/.test(m)) return m;
  switch (issue.code) {
    case 'invalid_type':
      return `expected ${issue.expected === 'array' ? 'a list' : issue.expected === 'object' ? 'a mapping' : `a ${issue.expected}`}`;
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'invalid_union':
      return 'options' in issue && Array.isArray(issue.options) ? `expected one of ${issue.options.map((v) => JSON.stringify(v)).join(', ')}` : 'matches none of the allowed forms';
    case 'too_big':
      return `expected at most ${String(issue.maximum)}`;
    case 'too_small':
      return `expected at least ${String(issue.minimum)}`;
    default:
      return m.charAt(0).toLowerCase() + m.slice(1);
  }
}
