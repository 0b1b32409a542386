import type { Command } from 'commander';
import { createApiLogger } from '../../api/index.js';
import { startDaemon } from '../../daemon.js';
import { PitrdError, loggedError } from '../../errors.js';
import { loadCommandConfig, logLevel } from '../context.js';
import { reporting } from '../report.js';

function parsePort(v: string): number {
  const n = Number(v);
  if (!/^[0-9]+$/.test(v) || n > 65535) throw new PitrdError('VALIDATION_ERROR', `--port: expected a number from 0 to 65535, got "${v}"`);
  return n;
}

/** `pitrd serve`: run the daemon until SIGTERM/SIGINT, then shut down gracefully and exit 0. */
export function register(program: Command): void {
  program
    .command('serve')
    .description('run the daemon: WAL receivers for the configured and registered databases, and the HTTP API')
    .option('--port <port>', 'listen on this port instead of api.listen.port (0 = any free port)', parsePort)
    .action(reporting(async function (this: Command, opts: { port?: number }) {
      const config = loadCommandConfig(this);
      const logger = createApiLogger({ level: logLevel() });
      const major = Number(process.versions.node.split('.')[0]);
      if (major < 22) {
        logger.warn({ node: process.versions.node, supported: ['22', '24'] }, 'Node.js 20 reached end of life in April 2026 and the AWS SDK requires Node 22 from January 2027: run pitrd on Node 22 or 24');
      }
      const daemon = await startDaemon(config, { logger, ...(opts.port !== undefined ? { port: opts.port } : {}) });
      await new Promise<void>((resolve) => {
        const onSignal = (signal: NodeJS.Signals) => {
          logger.info({ signal }, 'signal received');
          process.off('SIGTERM', onSignal);
          process.off('SIGINT', onSignal);
          daemon.stop().then(
            () => resolve(),
            (err: unknown) => {
              logger.error({ err: loggedError(err) }, 'shutdown failed');
              process.exitCode = 1;
              resolve();
            },
          );
        };
        process.on('SIGTERM', onSignal);
        process.on('SIGINT', onSignal);
      });
      logger.flush();
      // Everything is stopped; do not wait on a stray handle (a library's keep-alive timer) to exit.
      process.exit(process.exitCode ?? 0);
    }));
}
