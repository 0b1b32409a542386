/** `pitrd demo`: the whole PITR story end to end on a throwaway PostgreSQL, cleaned up after. */
export { runDemo } from './run.js';
export type { DemoOptions, DemoSummary } from './run.js';
export { startDemoCluster, postmasterPid } from './postgres.js';
export type { DemoCluster } from './postgres.js';
