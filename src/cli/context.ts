import type { Command } from 'commander';
import { loadConfig, type Config } from '../config/index.js';

/** The global `-c/--config` value (or PITRD_CONFIG), seen from any subcommand. */
export function configPath(cmd: Command): string | undefined {
  const opts = cmd.optsWithGlobals<{ config?: string }>();
  return opts.config ?? process.env.PITRD_CONFIG;
}

/** Load and validate the configuration for a command; CONFIG_INVALID propagates to main. */
export function loadCommandConfig(cmd: Command): Config {
  const file = configPath(cmd);
  return loadConfig(file === undefined ? {} : { file });
}

/** Write one line (or block) to stdout; commands print through here so tests can rely on it. */
export function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}
