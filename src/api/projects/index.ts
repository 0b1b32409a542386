export type { Project, ProjectStore, DatabaseRegistry } from './types.js';
export { MemoryDatabaseRegistry } from './memory-registry.js';
export { projectRoutes, PROJECT_NAME_RE, principalOf, projectIdParam } from './routes.js';
export { ConfigProjectStore } from './config-projects.js';
