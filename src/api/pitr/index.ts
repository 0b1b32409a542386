export { pitrRoutes } from './routes.js';
export type { HealthService, RecoveryWindowResponse, RecoveryWindowService } from './routes.js';
