import type { Command } from 'commander';
import { loadConfig, type Config } from '../config/index.js';
import { PitrdError } from '../errors.js';
import { setConfiguredBinDirs } from '../postgres/cluster/index.js';

export { out } from './report.js';

/** pino's levels, which `--log-level` and PITRD_LOG_LEVEL accept. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

interface GlobalOptions {
  config?: string;
  logLevel?: string;
  quiet?: boolean;
}

let quiet = false;

/** Whether --quiet was given: progress and narration on stderr are dropped, errors still shown. */
export function isQuiet(): boolean {
  return quiet;
}

/**
 * Validate the global options before any command runs (commander's preAction): a bad log level
 * is a usage error naming the allowed ones, not pino's message at the first log line.
 */
export function applyGlobalOptions(cmd: Command): void {
  const opts = cmd.optsWithGlobals<GlobalOptions>();
  quiet = opts.quiet === true;
  const level = opts.logLevel ?? process.env.PITRD_LOG_LEVEL;
  if (level !== undefined && !(LOG_LEVELS as readonly string[]).includes(level)) {
    const from = opts.logLevel !== undefined ? '--log-level' : 'PITRD_LOG_LEVEL';
    throw new PitrdError('VALIDATION_ERROR', `${from}: expected one of ${LOG_LEVELS.join(', ')}, got "${level}"`, { context: { key: from } });
  }
  if (opts.logLevel !== undefined) process.env.PITRD_LOG_LEVEL = opts.logLevel;
}

/** The log level in force (after applyGlobalOptions). */
export function logLevel(): LogLevel {
  return (process.env.PITRD_LOG_LEVEL as LogLevel | undefined) ?? 'info';
}

/** The global `-c/--config` value (or PITRD_CONFIG), seen from any subcommand. */
export function configPath(cmd: Command): string | undefined {
  const opts = cmd.optsWithGlobals<GlobalOptions>();
  return opts.config ?? process.env.PITRD_CONFIG;
}

/** Load and validate the configuration for a command; CONFIG_INVALID is reported with exit 3. */
export function loadCommandConfig(cmd: Command): Config {
  const file = configPath(cmd);
  const config = loadConfig(file === undefined ? {} : { file });
  setConfiguredBinDirs(config.postgres.bin_dirs);
  return config;
}
