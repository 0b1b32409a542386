import type { z } from 'zod';
import { formatPath } from './env.js';

/** Last path segments whose values must never be echoed back in an error message. */
const SECRET_KEYS = new Set(['password', 'secret_access_key', 'access_key_id', 'key', 'token']);

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let node = root;
  for (const p of path) {
    // A shorthand scalar (`compression: brotli`) stands for the whole object: report it.
    if (node === null || typeof node !== 'object') return node;
    node = (node as Record<PropertyKey, unknown>)[p];
  }
  return node;
}

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
    const p = formatPath(path);
    const from = sources.get(p);
    lines.push(`${p}${from ? ` (from ${from})` : ''}: ${reason}`);
  };
  for (const issue of issues) {
    const path = issue.path;
    if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys) line([...path, k], 'unknown key');
      continue;
    }
    // A failed discriminator is reported at the discriminator's own path by zod 4.
    const value = valueAt(input, path);
    if (value === undefined && (issue.code === 'invalid_type' || issue.code === 'invalid_union')) {
      line(path, `required: ${reasonOf(issue)}`);
      continue;
    }
    const got = isSecret(path) ? '' : `, got ${describe(value)}`;
    line(path, `${reasonOf(issue)}${got}`);
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
