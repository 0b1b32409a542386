#!/usr/bin/env node
import { CommanderError } from 'commander';
import { EXIT } from './exit-codes.js';
import { buildProgram } from './program.js';
import { reportError } from './report.js';

// The AWS SDK writes a multi-line Node-version notice to stderr at its first client on Node < 22:
// it would land in scripts' output and PostgreSQL's log (wal-fetch). pitrd says it itself, once,
// as a structured log line of `pitrd serve` (src/cli/commands/serve.ts).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

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
