export { restoreRoutes } from './routes.js';
export { targetFields, targetOf, recoveryOptions, restoreSchema, restoreIdParam, objectIdParam } from './schemas.js';
export type { TargetBody } from './schemas.js';
export type { RestoreMode, RestoreProgressView, RestoreRequest, RestoreService, RestoreStatusView, RestoreTargetInput, RestoreView } from './types.js';
