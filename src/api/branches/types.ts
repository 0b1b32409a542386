import type { TargetBody, TargetKind } from '../restores/index.js';

/**
 * A branch (seed 000): a running PostgreSQL restored from a protected database to a point in
 * time, with its own connection URI, until it is deleted.
 */
export type BranchStatus = 'creating' | 'running' | 'stopped' | 'failed';

export interface BranchView {
  id: string;
  branch_name: string;
  project_id: string;
  database: string;
  status: BranchStatus;
  /** postgresql://user@127.0.0.1:port/db once running (the source's roles and passwords apply; none is shown). */
  connection_uri: string | null;
  host: string;
  port: number | null;
  restore_id: string | null;
  target_kind: TargetKind;
  target_time: string | null;
  backup_id: string | null;
  data_dir: string;
  created_at: string;
  error: string | null;
}

export interface CreateBranchInput {
  branchName: string;
  /** The body's target fields; none given: the end of the archived WAL (latest). */
  target: TargetBody;
  backupId?: string;
}

/** What the branch routes need from the daemon. */
export interface BranchService {
  /** Checks the target like a restore (TARGET_TIME_INVALID … before anything is written), then restores in the background. */
  create(projectId: string, name: string, input: CreateBranchInput): Promise<BranchView>;
  list(projectId: string, name: string): Promise<BranchView[]>;
  /** Every branch of every database of the project (seed 000 lists branches by project). */
  listProject(projectId: string): Promise<BranchView[]>;
  /** BRANCH_NOT_FOUND when absent. */
  get(projectId: string, name: string, branchId: string): Promise<BranchView>;
  /** Stops its server and removes its data directory. */
  remove(projectId: string, name: string, branchId: string): Promise<{ id: string; deleted: true }>;
}
