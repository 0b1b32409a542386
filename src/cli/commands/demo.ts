import type { Command } from 'commander';
import { runDemo } from '../../demo/index.js';
import { isQuiet, out } from '../context.js';
import { reporting } from '../report.js';

interface DemoOpts {
  keep?: boolean;
  json?: boolean;
  rows?: string;
}

/**
 * `pitrd demo`: needs no config. Starts a throwaway PostgreSQL 15, archives its WAL, backs it up,
 * writes three steps, restores to between steps 2 and 3 and checks the rows; exit 1 if wrong.
 */
export function register(program: Command): void {
  program
    .command('demo')
    .description('run the whole point-in-time-recovery story on a throwaway PostgreSQL 15 and check the result')
    .option('--keep', 'keep the temporary directories (source, repository, restored data) and print where')
    .option('--json', 'print a JSON summary on stdout (progress lines go to stderr)')
    .option('--rows <n>', 'rows written per step', '100')
    .action(reporting(async function (this: Command, o: DemoOpts) {
      const ac = new AbortController();
      // Ctrl-C / SIGTERM: stop at the next step and clean up, instead of dying with clusters left running.
      const onSignal = (sig: NodeJS.Signals) => {
        process.stderr.write(`pitrd demo: ${sig} received, cleaning up\n`);
        ac.abort();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      const t0 = Date.now();
      const log = (line: string) => {
        const text = `[demo +${((Date.now() - t0) / 1000).toFixed(1)}s] ${line}\n`;
        if (isQuiet()) return;
        if (o.json) process.stderr.write(text);
        else out(text);
      };
      try {
        const rows = Number(o.rows);
        const summary = await runDemo({ log, signal: ac.signal, keep: o.keep === true, ...(Number.isInteger(rows) && rows > 0 ? { rowsPerStep: rows } : {}) });
        return { data: summary, human: () => `demo OK: restored exactly steps 1-2 of 3 in ${(summary.duration_ms / 1000).toFixed(1)} s` };
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    }));
}
