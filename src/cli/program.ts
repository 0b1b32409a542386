import { Command, Option } from 'commander';
import { VERSION } from '../version.js';
import { commandRegistrations } from './commands/index.js';
import { applyGlobalOptions, LOG_LEVELS } from './context.js';

/** The commander program; each command lives in its own file under ./commands. */
export function buildProgram(): Command {
  const program = new Command();
  program
    .name('pitrd')
    .description('Point-in-time recovery engine and WAL-archiving daemon for PostgreSQL')
    .version(VERSION, '-V, --version')
    .option('-c, --config <file>', 'configuration file (YAML); default: $PITRD_CONFIG, else built-in defaults + PITRD_* environment')
    .addOption(new Option('--log-level <level>', `log level of the daemon and of commands that log: ${LOG_LEVELS.join(', ')} (default: $PITRD_LOG_LEVEL, else info)`))
    .option('-q, --quiet', 'no progress or narration on stderr; errors are still printed')
    .showHelpAfterError()
    // Usage errors become exit status 2 (cli/exit-codes.ts) instead of commander's process.exit(1).
    .exitOverride()
    .hook('preAction', (_program, action) => applyGlobalOptions(action));
  for (const register of commandRegistrations) register(program);
  return program;
}
