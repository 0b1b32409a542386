/**
 * Periodic health evaluation of every protected database: receiver down, upload backlog, WAL
 * retained on the server by the replication slot, age of the last completed base backup. Changes (raised / cleared) go to the alert webhook when one is
 * configured; the active set is served by GET .../health and the pitrd_alert_active gauge.
 */
import type { Logger } from 'pino';
import { errorMessage } from '../errors.js';
import { diffAlerts, evaluateHealth, type Alert, type HealthThresholds, type WebhookNotifier } from '../retention/index.js';
import type { DatabaseEntry } from './entry.js';
import { slotRetainedBytes } from './slot-retention.js';

export const DEFAULT_THRESHOLDS: HealthThresholds = {
  uploadBacklogBytes: 256 * 1024 * 1024,
  slotRetainedBytes: 1024 * 1024 * 1024,
  // Daily backups plus two hours of slack for a slow one.
  backupMaxAgeMs: 26 * 3_600_000,
};

export interface HealthMonitorOptions {
  entries: () => DatabaseEntry[];
  /** Stop time (epoch ms) of the newest completed backup of each database. */
  lastBackups: () => Promise<Map<string, number | null>>;
  notifier: WebhookNotifier | null;
  logger: Logger;
  thresholds?: HealthThresholds;
  intervalMs?: number;
  /** Bytes the server retains for the slot (default: asks the server; tests may pass their own). */
  slotRetained?: (entry: DatabaseEntry) => Promise<number | null>;
}

export class HealthMonitor {
  private active: Alert[] = [];
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<Alert[]> | null = null;

  constructor(private readonly opts: HealthMonitorOptions) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.evaluate().catch((err: unknown) => this.opts.logger.warn({ err: errorMessage(err) }, 'health evaluation failed')), this.opts.intervalMs ?? 60_000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running?.catch(() => undefined);
  }

  /** The alerts active after the last evaluation. */
  alerts(database?: string): Alert[] {
    return this.active.filter((a) => database === undefined || a.database === database);
  }

  /** Evaluate every database now; one evaluation at a time (a second caller shares it). */
  evaluate(): Promise<Alert[]> {
    this.running ??= this.once().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async once(): Promise<Alert[]> {
    const now = Date.now();
    const last = await this.opts.lastBackups();
    const current: Alert[] = [];
    const slotRetained = this.opts.slotRetained ?? slotRetainedBytes;
    for (const e of this.opts.entries()) {
      const status = e.receiver?.status() ?? null;
      // Only a PITR database has a slot to worry about (disable keeps it, but then receiver_down is moot).
      const retained = e.pitr.enabled ? await slotRetained(e) : null;
      current.push(
        ...evaluateHealth(
          {
            database: e.name,
            archiveGap: null,
            uploadBacklogBytes: status?.upload_backlog.bytes ?? 0,
            slotRetainedBytes: retained,
            lastSuccessfulBackupAt: last.get(e.name) ?? null,
            // Without PITR there is no receiver to be down.
            receiverUp: !e.pitr.enabled || status?.status === 'running',
          },
          this.opts.thresholds ?? DEFAULT_THRESHOLDS,
          now,
        ),
      );
    }
    const { active, changes } = diffAlerts(this.active, current, now);
    this.active = active;
    for (const c of changes) {
      this.opts.logger.warn({ alert: c.alert.key, state: c.state }, `alert ${c.state}: ${c.alert.message}`);
      if (this.opts.notifier) await this.opts.notifier.notify(c);
    }
    return active;
  }
}
