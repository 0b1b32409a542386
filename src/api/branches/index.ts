export { branchRoutes, branchIdParam } from './routes.js';
export type { BranchService, BranchStatus, BranchView, CreateBranchInput } from './types.js';
