import { parse as parseYaml } from 'yaml';
import { formatIssuePath } from '../zod-issues.js';

/**
 * PITRD_* environment overrides. Two kinds, documented in README.md ("Configuration"):
 *
 *  - Path variables contain `__`: the part after `PITRD_` split on `__`, lower-cased, is the
 *    dotted key path. `PITRD_STORAGE__BUCKET=b` sets storage.bucket;
 *    `PITRD_DATABASES__0__CONNECTION__PORT=5433` sets databases[0].connection.port, and an
 *    array index may also be a database name: `PITRD_DATABASES__MAIN__CONNECTION__PASSWORD`.
 *  - Shortcuts (no `__`), a fixed table below. Any other PITRD_* variable without `__` is not
 *    configuration (PITRD_CONFIG names the file, PITRD_PG_BIN is the test harness's) and ignored.
 *
 * Values are read as YAML scalars, so `5433` is a number and `true` a boolean, as in the file.
 * A variable wins over the file.
 */
export const ENV_SHORTCUTS: Readonly<Record<string, readonly string[]>> = {
  PITRD_ENCRYPTION_KEY: ['encryption', 'key'],
  PITRD_SPOOL_DIR: ['spool_dir'],
  PITRD_COMPRESSION: ['compression', 'algorithm'],
  PITRD_API_PORT: ['api', 'listen', 'port'],
  PITRD_API_HOST: ['api', 'listen', 'host'],
};

/** Variables whose value is a secret: kept as the raw string, never echoed. */
const RAW_STRING_PATHS = [/^encryption\.key$/, /\.password$/, /^storage\.secret_access_key$/, /^storage\.access_key_id$/];

export interface EnvOverride {
  variable: string;
  /** Segments as written (index segments may still be names). */
  segments: string[];
  value: unknown;
}

export function envOverrides(env: NodeJS.ProcessEnv): EnvOverride[] {
  const out: EnvOverride[] = [];
  for (const [variable, raw] of Object.entries(env)) {
    if (raw === undefined || !variable.startsWith('PITRD_')) continue;
    let segments: string[];
    const shortcut = ENV_SHORTCUTS[variable];
    if (shortcut) segments = [...shortcut];
    else if (variable.includes('__')) segments = variable.slice('PITRD_'.length).split('__').map((s) => s.toLowerCase());
    else continue;
    const dotted = segments.join('.');
    const value = RAW_STRING_PATHS.some((re) => re.test(dotted)) ? raw : scalar(raw);
    out.push({ variable, segments, value });
  }
  // Deterministic order: shortcuts and paths are applied sorted by variable name.
  return out.sort((a, b) => (a.variable < b.variable ? -1 : 1));
}

function scalar(raw: string): unknown {
  try {
    const v: unknown = parseYaml(raw);
    // Only scalars: `PITRD_X='{a: 1}'` stays the string the user wrote.
    return v === null || typeof v === 'object' ? raw : v;
  } catch {
    return raw;
  }
}

type Json = Record<string, unknown> | unknown[];

/** Lists whose elements may be addressed by name, even before the list exists. */
const LIST_KEYS = new Set(['databases']);

/**
 * Apply overrides to a (cloned) raw config object. Returns the dotted path each variable ended up
 * at (with array names resolved to indices) so validation errors can name the variable.
 */
export function applyEnvOverrides(raw: Record<string, unknown>, overrides: EnvOverride[]): Map<string, string> {
  const sources = new Map<string, string>();
  for (const o of overrides) {
    let node: Json = raw;
    const resolved: (string | number)[] = [];
    for (let i = 0; i < o.segments.length; i++) {
      const seg = o.segments[i]!;
      const last = i === o.segments.length - 1;
      const key = Array.isArray(node) ? arrayIndex(node, seg) : seg;
      resolved.push(key);
      if (last) {
        (node as Record<string | number, unknown>)[key] = o.value;
        break;
      }
      const next = (node as Record<string | number, unknown>)[key];
      if (next !== null && typeof next === 'object') {
        node = next as Json;
      } else {
        // Create the container; the next segment decides whether it is a list.
        const child: Json = /^\d+$/.test(o.segments[i + 1]!) || LIST_KEYS.has(formatIssuePath(resolved)) ? [] : {};
        (node as Record<string | number, unknown>)[key] = child;
        node = child;
      }
    }
    sources.set(formatIssuePath(resolved), o.variable);
  }
  return sources;
}

function arrayIndex(arr: unknown[], seg: string): number {
  if (/^\d+$/.test(seg)) return Number(seg);
  const found = arr.findIndex((e) => e !== null && typeof e === 'object' && String((e as { name?: unknown }).name).toLowerCase() === seg);
  if (found >= 0) return found;
  // A name not in the file: a new entry that carries that name.
  arr.push({ name: seg });
  return arr.length - 1;
}

