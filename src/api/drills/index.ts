export { drillRoutes, drillSchema } from './routes.js';
export type { DrillPhaseName, DrillRequest, DrillService, DrillView } from './types.js';
