export { restoreRoutes } from './routes.js';
export { targetBody, targetFields, restoreSchema, restoreIdParam, objectIdParam } from './schemas.js';
export type { RestoreMode, RestoreProgressView, RestoreRequest, RestoreService, RestoreStatusView, RestoreView, TargetBody, TargetKind } from './types.js';
