export { evaluateHealth, diffAlerts, DEFAULT_UPLOAD_FAILURE_MS } from './alerts.js';
export type { Alert, AlertChange, AlertKind, ArchiveGap, DrillHealth, HealthObservation, HealthThresholds } from './alerts.js';
export { createWebhookNotifier } from './webhook.js';
export type { WebhookLogger, WebhookNotifier, WebhookOptions } from './webhook.js';
