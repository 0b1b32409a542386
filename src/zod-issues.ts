/**
 * zod issues as pitrd reports them: one walk for every reader of input (API requests, the config
 * file, repository metadata). It says where each issue is (a path spelled `a.b[0].c`), what the
 * input holds there, and whether it is an unknown key, a missing value or a wrong one. Each
 * caller keeps its own words: the API names JSON types, the config file quotes the values it may
 * show, repository metadata gives zod's message.
 */
import type { z } from 'zod';

/** `databases[1].connection.port`; `(root)` for the input itself. */
export function formatIssuePath(path: readonly PropertyKey[]): string {
  let s = '';
  for (const p of path) {
    if (typeof p === 'number') s += `[${p}]`;
    else s += s === '' ? String(p) : `.${String(p)}`;
  }
  return s === '' ? '(root)' : s;
}

/**
 * The input's value at `path`. A scalar met on the way is returned as it is: it stands where an
 * object was expected (`compression: brotli` for `compression: {type: …}`), and it is what the
 * user wrote, so it is what a message must name (not "required").
 */
export function valueAtPath(root: unknown, path: readonly PropertyKey[]): unknown {
  let node = root;
  for (const p of path) {
    if (node === null || typeof node !== 'object') return node;
    node = (node as Record<PropertyKey, unknown>)[p];
  }
  return node;
}

export interface IssueSite {
  /** Where: for an unknown key, the key's own path. */
  path: readonly PropertyKey[];
  issue: z.core.$ZodIssue;
  /** What the input holds at `path` (see valueAtPath). */
  value: unknown;
  /**
   * unknown-key: a key the schema does not have (one site per key); missing: nothing where a
   * value is required (a wrong type, or no form of a union, with nothing there); invalid: the rest.
   */
  kind: 'unknown-key' | 'missing' | 'invalid';
}

/** Every issue at its place in `input`, in zod's order, unknown keys one site each. */
export function issueSites(issues: readonly z.core.$ZodIssue[], input: unknown): IssueSite[] {
  const out: IssueSite[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys) out.push({ path: [...issue.path, k], issue, value: valueAtPath(input, [...issue.path, k]), kind: 'unknown-key' });
      continue;
    }
    const value = valueAtPath(input, issue.path);
    const missing = value === undefined && (issue.code === 'invalid_type' || issue.code === 'invalid_union');
    out.push({ path: issue.path, issue, value, kind: missing ? 'missing' : 'invalid' });
  }
  return out;
}
