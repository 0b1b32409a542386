import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { PitrdError } from '../errors.js';
import { applyEnvOverrides, envOverrides } from './env.js';
import { deepFreeze } from './freeze.js';
import { formatIssues } from './issues.js';
import { defaultSlotName } from '../postgres/index.js';
import { ConfigSchema, type DatabaseConfig, type ParsedConfig } from './schema.js';
import { parseEncryptionKey, readSecretFile } from './secrets.js';

type DeepReadonly<T> = T extends Buffer ? T : T extends (infer E)[] ? readonly DeepReadonly<E>[] : T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T;

export interface EncryptionConfig {
  key_file?: string;
  /** True when a repository key was supplied. */
  enabled: boolean;
  /**
   * The 32-byte repository key. Non-enumerable: JSON.stringify, util.inspect and object spreads
   * of the config never carry it, so it cannot leak into a log line by accident.
   */
  key?: Buffer;
}

export type Config = DeepReadonly<
  Omit<ParsedConfig, 'encryption' | 'databases'> & {
    encryption: EncryptionConfig;
    databases: DatabaseConfig[];
    /** Absolute path of the file read, absent when the config came from defaults + environment. */
    source?: string;
  }
>;

export interface LoadConfigOptions {
  /** YAML file; absent = defaults + environment only. */
  file?: string;
  /** Defaults to process.env. */
  env?: NodeJS.ProcessEnv;
}

/** Read, override, validate, resolve secrets, freeze. Any problem is one CONFIG_INVALID listing every bad key. */
export function loadConfig(opts: LoadConfigOptions = {}): Config {
  const env = opts.env ?? process.env;
  if (opts.file === undefined) return parseConfig({}, { env, baseDir: process.cwd() });
  const file = resolve(opts.file);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new PitrdError('CONFIG_INVALID', `cannot read config file "${file}" (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`, { context: { path: file }, cause: err });
  }
  return parseConfigText(text, { env, baseDir: dirname(file), source: file });
}

export interface ParseOptions {
  env?: NodeJS.ProcessEnv;
  /** Relative paths in the config are resolved against this directory. */
  baseDir?: string;
  source?: string;
}

export function parseConfigText(text: string, opts: ParseOptions = {}): Config {
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch (err) {
    const where = err instanceof YAMLParseError && err.linePos ? ` line ${err.linePos[0].line}, column ${err.linePos[0].col}` : '';
    throw new PitrdError('CONFIG_INVALID', `${opts.source ?? 'config'}:${where} not valid YAML: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`, {
      context: { path: opts.source },
      cause: err,
    });
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new PitrdError('CONFIG_INVALID', `${opts.source ?? 'config'}: (root): expected a mapping of settings`, { context: { path: opts.source } });
  }
  return parseConfig(raw as Record<string, unknown>, opts);
}

export function parseConfig(input: Record<string, unknown>, opts: ParseOptions = {}): Config {
  const env = opts.env ?? process.env;
  const baseDir = opts.baseDir ?? process.cwd();
  const raw = structuredClone(input);
  const sources = applyEnvOverrides(raw, envOverrides(env));
  const result = ConfigSchema.safeParse(raw);
  if (!result.success) {
    const lines = formatIssues(result.error.issues, raw, sources);
    const head = `invalid configuration${opts.source ? ` in ${opts.source}` : ''}`;
    throw new PitrdError('CONFIG_INVALID', `${head}:\n  ${lines.join('\n  ')}`, { context: { path: opts.source, problems: lines } });
  }
  const parsed = result.data;
  const abs = (p: string) => resolve(baseDir, p);

  const encryption: EncryptionConfig = { enabled: false };
  if (parsed.encryption.key_file !== undefined) encryption.key_file = abs(parsed.encryption.key_file);
  let key: Buffer | undefined;
  if (parsed.encryption.key !== undefined) {
    key = parseEncryptionKey(parsed.encryption.key, sources.has('encryption.key') ? `encryption.key (from ${sources.get('encryption.key')})` : 'encryption.key');
  } else if (encryption.key_file !== undefined) {
    key = parseEncryptionKey(readSecretFile(encryption.key_file, 'encryption.key_file'), `encryption.key_file (${encryption.key_file})`);
  }
  if (key) {
    encryption.enabled = true;
    Object.defineProperty(encryption, 'key', { value: key, enumerable: false, writable: false });
  }

  const storage = parsed.storage.type === 'fs' ? { ...parsed.storage, path: abs(parsed.storage.path) } : parsed.storage;
  const api = { ...parsed.api, ...(parsed.api.tokens_file !== undefined ? { tokens_file: abs(parsed.api.tokens_file) } : {}) };
  const databases: DatabaseConfig[] = parsed.databases.map((db) => ({
    ...db,
    slot_name: db.slot_name ?? defaultSlotName(db.name),
    connection: {
      ...db.connection,
      ...(db.connection.password_file !== undefined ? { password_file: abs(db.connection.password_file) } : {}),
      ...(db.connection.sslrootcert !== undefined ? { sslrootcert: abs(db.connection.sslrootcert) } : {}),
      ...(db.connection.sslcert !== undefined ? { sslcert: abs(db.connection.sslcert) } : {}),
      ...(db.connection.sslkey !== undefined ? { sslkey: abs(db.connection.sslkey) } : {}),
    },
  }));

  const config = {
    storage,
    compression: parsed.compression,
    encryption,
    spool_dir: abs(parsed.spool_dir),
    spool: parsed.spool,
    health: parsed.health,
    events: parsed.events,
    ...(parsed.restore_dir !== undefined ? { restore_dir: abs(parsed.restore_dir) } : {}),
    restores: parsed.restores,
    postgres: { bin_dirs: Object.fromEntries(Object.entries(parsed.postgres.bin_dirs).map(([major, dir]) => [major, abs(dir)])) },
    api,
    databases,
    ...(opts.source !== undefined ? { source: opts.source } : {}),
  };
  return deepFreeze(config) as Config;
}
