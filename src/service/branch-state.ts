/**
 * What the daemon remembers of a branch, on its own disk next to the branch's data directory
 * ({root}/branches/{id}/branch.json). A branch is a process on this host, not repository data:
 * a restarted daemon reads these files to find (and stop, start or delete) its servers.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync, openSync, fsyncSync, closeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';

export const BranchStateSchema = z.looseObject({
  version: z.literal(1),
  id: z.string(),
  branch_name: z.string(),
  project_id: z.string(),
  database: z.string(),
  status: z.enum(['creating', 'running', 'stopped', 'failed']),
  /** Set when the daemon stopped the server at shutdown: a restart starts it again. */
  stopped_by_daemon: z.boolean().default(false),
  port: z.number().int().nullable(),
  user: z.string(),
  dbname: z.string(),
  restore_id: z.string().nullable(),
  target: z.object({ kind: z.enum(['time', 'lsn', 'xid', 'name', 'latest', 'immediate']) }).loose(),
  backup_id: z.string().nullable(),
  data_dir: z.string(),
  /** The restore's work directory (server log, socket) while its first server runs; removed with it. */
  work_dir: z.string().nullable().default(null),
  created_at: z.string(),
  /** Every detail, for the operator. */
  error: z.string().nullable(),
  /** What the API shows (src/errors.ts recordedError). */
  error_public: z.string().nullable().optional(),
});

export type BranchState = z.output<typeof BranchStateSchema>;

export function branchesDir(root: string): string {
  return join(root, 'branches');
}

export function branchDir(root: string, id: string): string {
  return join(branchesDir(root), id);
}

/**
 * Write a daemon state file (JSON, 0600) via a temporary file, fsync and rename: a crash leaves
 * the old content or the new one. Branch and managed-instance state files both go through it.
 */
export function writeStateFile(file: string, value: unknown): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  const fd = openSync(tmp, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

export function saveBranchState(root: string, s: BranchState): void {
  writeStateFile(join(branchDir(root, s.id), 'branch.json'), s);
}

/** Every branch recorded under the root; unreadable files are reported, not fatal. */
export function loadBranchStates(root: string, onBad: (file: string, err: unknown) => void): BranchState[] {
  let ids: string[];
  try {
    ids = readdirSync(branchesDir(root));
  } catch {
    return [];
  }
  const out: BranchState[] = [];
  for (const id of ids) {
    const file = join(branchDir(root, id), 'branch.json');
    try {
      out.push(BranchStateSchema.parse(JSON.parse(readFileSync(file, 'utf8'))));
    } catch (err) {
      onBad(file, err);
    }
  }
  return out;
}
