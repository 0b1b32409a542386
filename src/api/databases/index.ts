export { databaseRoutes, connectionString, DATABASE_ROUTE_POLICY } from './routes.js';
export { SSL_MODE_VALUES } from './types.js';
export type { DatabaseConnectionView, DatabaseService, DatabaseView, ProvisionDatabaseInput, PitrConfigView, PitrService, RegisterDatabaseInput, SslMode, WalArchiveView } from './types.js';
export { projectRouteFactory } from './db-route.js';
export type { ProjectRouteSpec } from './db-route.js';
