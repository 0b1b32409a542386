#!/usr/bin/env node
import { isPitrdError } from '../errors.js';
import { buildProgram } from './program.js';

buildProgram()
  .parseAsync(process.argv)
  .catch((err: unknown) => {
    // Codes are printed so scripts and users can tell a bad config from an outage.
    if (isPitrdError(err)) process.stderr.write(`pitrd: ${err.code}: ${err.message}\n`);
    else process.stderr.write(`pitrd: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
