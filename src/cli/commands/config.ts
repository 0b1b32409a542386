import type { Command } from 'commander';
import { stringify as toYaml } from 'yaml';
import { redactConfig } from '../../config/index.js';
import { loadCommandConfig } from '../context.js';
import { reporting } from '../report.js';

/**
 * `pitrd config check [--json]`: load + validate, print the effective config with secrets
 * redacted. An invalid configuration exits 3; with --json its envelope's error carries
 * `valid: false` and `problems` (one line per bad key).
 */
export function register(program: Command): void {
  const config = program.command('config').description('inspect the configuration');
  config
    .command('check')
    .description('load and validate the configuration (file + PITRD_* environment); print it with secrets redacted')
    .option('--json', 'print JSON instead of YAML')
    .action(
      reporting(function (this: Command) {
        const cfg = loadCommandConfig(this);
        const shown = redactConfig(cfg);
        return {
          data: { valid: true, config: shown },
          human: () => `# configuration is valid${cfg.source ? ` (${cfg.source})` : ' (defaults + environment)'}\n${toYaml(shown)}`,
        };
      }),
    );
}
