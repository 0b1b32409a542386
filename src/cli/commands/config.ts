import type { Command } from 'commander';
import { stringify as toYaml } from 'yaml';
import { redactConfig } from '../../config/index.js';
import { databaseMajors, hostBinaries, majorsText } from '../check/index.js';
import { loadCommandConfig } from '../context.js';
import { reporting } from '../report.js';

/**
 * `pitrd config check [--json]`: load + validate, print the effective config with secrets
 * redacted. An invalid configuration exits 3; with --json its envelope's error carries
 * `valid: false` and `problems` (one line per bad key). Then, for information (the exit status
 * does not change): this host's server binaries per PostgreSQL major, and each configured
 * database's major as its server answers (a few seconds at most per database) with whether this
 * host can run restores of it (`--offline`: no server is asked; the docker entrypoint's check).
 */
export function register(program: Command): void {
  const config = program.command('config').description('inspect the configuration');
  config
    .command('check')
    .description('load and validate the configuration (file + PITRD_* environment); print it with secrets redacted')
    .option('--json', 'print JSON instead of YAML')
    .option('--offline', "validate only: do not ask the databases' servers for their PostgreSQL major")
    .action(
      reporting(async function (this: Command, o: { offline?: boolean }) {
        const cfg = loadCommandConfig(this);
        const shown = redactConfig(cfg);
        const binaries = hostBinaries();
        const databases = o.offline ? [] : await databaseMajors(cfg);
        return {
          data: { valid: true, config: shown, postgres_binaries: binaries, databases },
          human: () => `# configuration is valid${cfg.source ? ` (${cfg.source})` : ' (defaults + environment)'}\n${toYaml(shown)}${majorsText(databases, binaries)}\n`,
        };
      }),
    );
}
