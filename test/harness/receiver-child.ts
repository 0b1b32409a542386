/**
 * Runs one receiver in its own process so tests can SIGKILL it (a real crash: no stop(), no
 * last flush). Config comes as JSON in PITRD_RECEIVER_CHILD; the status is printed as one JSON
 * line per 100 ms on stdout. SIGTERM stops it cleanly.
 */
import { createReceiver } from '../../src/receiver/index.js';
import { openReceiverRepo, type ReceiverChildConfig } from './receiver.js';

async function main(): Promise<void> {
  const cfg = JSON.parse(process.env.PITRD_RECEIVER_CHILD ?? '{}') as ReceiverChildConfig;
  const repo = await openReceiverRepo(cfg.repo, cfg.database, cfg.compression);
  const log = (level: string) => (obj: object, msg?: string) => process.stderr.write(`${new Date().toISOString()} ${level} ${msg ?? ''} ${JSON.stringify(obj)}\n`);
  const receiver = createReceiver({
    database: cfg.database,
    connection: cfg.connection,
    repository: repo.repository,
    spoolDir: cfg.spoolDir,
    slotName: cfg.slotName,
    synchronous: cfg.synchronous,
    statusIntervalMs: cfg.statusIntervalMs ?? 1000,
    reconnectBackoff: { initialMs: 200, maxMs: 2000 },
    uploadBackoff: { initialMs: 200, maxMs: 2000 },
    logger: { debug: () => undefined, info: log('INFO'), warn: log('WARN'), error: log('ERROR') },
  });
  await receiver.start();
  const timer = setInterval(() => process.stdout.write(JSON.stringify(receiver.status()) + '\n'), 100);
  process.once('SIGTERM', () => {
    clearInterval(timer);
    void receiver.stop().then(async (st) => {
      process.stdout.write(JSON.stringify(st) + '\n');
      await repo.close();
      process.exit(0);
    });
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`receiver child failed: ${String(err)}\n`);
  process.exit(1);
});
