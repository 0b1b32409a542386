#!/usr/bin/env node
import { CommanderError } from 'commander';
import { EXIT } from './exit-codes.js';
import { buildProgram } from './program.js';
import { reportError } from './report.js';

buildProgram()
  .parseAsync(process.argv)
  .catch((err: unknown) => {
    if (err instanceof CommanderError) {
      // Commander has printed its message already; --help and --version end here too, with 0.
      process.exitCode = err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
      return;
    }
    // Errors thrown before a command's own reporting took over (e.g. a preAction check).
    reportError(err, process.argv.includes('--json'));
  });
