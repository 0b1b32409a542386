export { infraiRoutes, INFRAI_ROUTE_POLICY } from './routes.js';
export type { CreateInfraiProjectInput, InfraiBranch, InfraiProject, InfraiScope, InfraiService, InfraiSnapshot } from './types.js';
