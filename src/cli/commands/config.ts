import type { Command } from 'commander';
import { stringify as toYaml } from 'yaml';
import { redactConfig } from '../../config/index.js';
import { loadCommandConfig, out } from '../context.js';

/** `pitrd config check [--json]`: load + validate, print the effective config with secrets redacted. */
export function register(program: Command): void {
  const config = program.command('config').description('inspect the configuration');
  config
    .command('check')
    .description('load and validate the configuration (file + PITRD_* environment); print it with secrets redacted')
    .option('--json', 'print JSON instead of YAML')
    .action(function (this: Command, opts: { json?: boolean }) {
      const cfg = loadCommandConfig(this);
      const shown = redactConfig(cfg);
      if (opts.json) {
        out(JSON.stringify({ valid: true, config: shown }, null, 2));
      } else {
        out(`# configuration is valid${cfg.source ? ` (${cfg.source})` : ' (defaults + environment)'}`);
        out(toYaml(shown));
      }
    });
}
