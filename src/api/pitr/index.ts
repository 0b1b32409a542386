export { pitrRoutes } from './routes.js';
export type { HealthService, RecoveryWindowResponse, RecoveryWindowService } from './routes.js';
export { eventRoutes, EVENT_KINDS } from './events.js';
export type { EventQueryParams, EventService, EventView } from './events.js';
