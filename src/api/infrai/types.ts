/**
 * infrai's managed-database API (shared/seeds/000) as pitrd serves it: what its routes need from
 * the daemon. An infrai "project" is a pitrd database (a managed instance pitrd created, or a
 * registered server); a "branch" is a pitrd branch of it; a "snapshot" is a base backup of it;
 * restoring a snapshot creates a new managed instance from it.
 */

/**
 * Which pitrd projects a call reaches, from its API token: every project for a `*` token, else
 * the token's own. infrai keys are per project; pitrd tokens list projects, so an infrai project
 * (a database) is visible when its pitrd project is in the token's scope.
 */
export interface InfraiScope {
  allProjects: boolean;
  projects: readonly string[];
}

export interface InfraiProject {
  id: string;
  name: string;
  region: string | null;
  /** With the generated password for a managed instance once it runs; null while provisioning. */
  connection_uri: string | null;
  created_at: string | null;
  /** pitrd's: provisioning | running | stopped | failed (managed), the receiver's state (registered). */
  status: string;
  postgres_version: string | null;
}

export interface InfraiBranch {
  id: string;
  branch_name: string;
  project_id: string;
  connection_uri: string | null;
  status: string;
  created_at: string;
}

export interface InfraiSnapshot {
  id: string;
  project_id: string;
  label: string | null;
  created_at: string;
  status: string;
}

export interface CreateInfraiProjectInput {
  name: string;
  region?: string | undefined;
  plan?: string | undefined;
  postgres_version?: string | undefined;
}

export interface InfraiService {
  /** A new managed instance in the token's home project (FORBIDDEN when the token has several and no `*`). */
  createProject(scope: InfraiScope, input: CreateInfraiProjectInput): Promise<InfraiProject>;
  /** PROJECT_NOT_FOUND when absent or outside the scope. */
  getProject(scope: InfraiScope, id: string): Promise<InfraiProject>;
  listProjects(scope: InfraiScope): Promise<InfraiProject[]>;
  /** Removes its branches, then the database with its repository data (snapshots) and, if managed, its server. */
  deleteProject(scope: InfraiScope, id: string): Promise<void>;
  createBranch(scope: InfraiScope, input: { project_id: string; branch_name: string; from_branch?: string | undefined }): Promise<InfraiBranch>;
  getBranch(scope: InfraiScope, id: string): Promise<InfraiBranch>;
  listBranches(scope: InfraiScope, projectId: string | undefined): Promise<InfraiBranch[]>;
  deleteBranch(scope: InfraiScope, id: string): Promise<void>;
  createSnapshot(scope: InfraiScope, input: { project_id: string; label?: string | undefined }): Promise<InfraiSnapshot>;
  getSnapshot(scope: InfraiScope, id: string): Promise<InfraiSnapshot>;
  listSnapshots(scope: InfraiScope, projectId: string | undefined): Promise<InfraiSnapshot[]>;
  /** A new managed project from the snapshot (answers at once, provisioning). */
  restoreSnapshot(scope: InfraiScope, id: string, input: { new_name?: string | undefined }): Promise<InfraiProject>;
}
