import { Command } from 'commander';
import { VERSION } from '../version.js';
import { commandRegistrations } from './commands/index.js';

/** The commander program; each command lives in its own file under ./commands. */
export function buildProgram(): Command {
  const program = new Command();
  program
    .name('pitrd')
    .description('Point-in-time recovery engine and WAL-archiving daemon for PostgreSQL')
    .version(VERSION, '-V, --version')
    .option('-c, --config <file>', 'configuration file (YAML); default: $PITRD_CONFIG, else built-in defaults + PITRD_* environment')
    .showHelpAfterError();
  for (const register of commandRegistrations) register(program);
  return program;
}
