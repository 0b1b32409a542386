import { errorMessage, loggedError } from '../errors.js';
import type { AlertChange } from './alerts.js';

export interface WebhookLogger {
  warn(obj: Record<string, unknown>, msg: string): void;
}

export interface WebhookOptions {
  url: string;
  /** Abort a request after this long (default 5 s): a slow receiver must not stall the daemon. */
  timeoutMs?: number;
  headers?: Record<string, string>;
  logger?: WebhookLogger;
}

export interface WebhookNotifier {
  /** POST the change as JSON; true when the receiver answered 2xx. Never throws. */
  notify(change: AlertChange): Promise<boolean>;
}

const defaultLogger: WebhookLogger = { warn: (obj, msg) => process.stderr.write(`${JSON.stringify({ level: 'warn', msg, ...obj })}\n`) };

/** The URL's origin and path only: query strings often carry tokens, which must not reach logs. */
function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

export function createWebhookNotifier(opts: WebhookOptions): WebhookNotifier {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const log = opts.logger ?? defaultLogger;
  const target = safeUrl(opts.url);
  return {
    async notify(change) {
      const body = {
        event: `alert.${change.state}`,
        at: new Date(change.at).toISOString(),
        alert: { ...change.alert, since: new Date(change.alert.since).toISOString() },
      };
      try {
        const res = await fetch(opts.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...opts.headers },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(timeoutMs),
        });
        // Drain the body so the connection is released.
        await res.arrayBuffer().catch(() => undefined);
        if (!res.ok) {
          log.warn({ url: target, status: res.status, alert: change.alert.key, state: change.state }, `alert webhook answered HTTP ${res.status}`);
          return false;
        }
        return true;
      } catch (err) {
        log.warn({ url: target, alert: change.alert.key, state: change.state, err: loggedError(err) }, `alert webhook failed: ${errorMessage(err)}`);
        return false;
      }
    },
  };
}
