/**
 * What the daemon remembers of a managed instance (a PostgreSQL server it created and runs), on
 * its own disk: `{root}/.pitrd/instances/{id}.json` (0600, in the root-only state directory: it
 * holds the instance's generated passwords, which the postgres OS user that runs the servers must
 * not read). The data directory is `{root}/instances/{id}/data`, the socket and server log
 * `{root}/instances/{id}/run`. A restarted daemon reads these files to start its instances again.
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { writeStateFile } from './branch-state.js';
import { stateDir } from './restore-root.js';

export const InstanceStateSchema = z.looseObject({
  version: z.literal(1),
  id: z.string(),
  project_id: z.string(),
  name: z.string(),
  /** The name the client gave when it differs from the database name (infrai's free-form project names). */
  display_name: z.string().nullable().default(null),
  major: z.number().int(),
  status: z.enum(['provisioning', 'running', 'stopped', 'failed']),
  /** Set when the daemon stopped the server at shutdown: the next start starts it again. */
  stopped_by_daemon: z.boolean().default(false),
  port: z.number().int().nullable(),
  data_dir: z.string(),
  region: z.string().nullable(),
  config: z.object({ cpu: z.number().optional(), memory: z.number().optional(), storage: z.number().optional() }).nullable(),
  /** Secrets: the client role's and the replication role's (also in the registry record, encrypted with the repository). */
  passwords: z.object({ app: z.string(), replication: z.string() }),
  /** initdb, or restored from a base backup (infrai's snapshot.restore). */
  origin: z.object({ kind: z.enum(['initdb', 'snapshot']), backup_id: z.string().nullable(), project_id: z.string().nullable(), database: z.string().nullable() }),
  created_at: z.string(),
  error: z.string().nullable(),
  error_public: z.string().nullable().optional(),
});

export type InstanceState = z.output<typeof InstanceStateSchema>;

export function instancesStateDir(root: string): string {
  return join(stateDir(root), 'instances');
}

/** Data directory, socket and log of an instance (postgres-owned). */
export function instanceDir(root: string, id: string): string {
  return join(root, 'instances', id);
}

export function saveInstanceState(root: string, s: InstanceState): void {
  writeStateFile(join(instancesStateDir(root), `${s.id}.json`), s);
}

export function deleteInstanceState(root: string, id: string): void {
  rmSync(join(instancesStateDir(root), `${id}.json`), { force: true });
}

/** Every instance recorded; unreadable files are reported, not fatal. */
export function loadInstanceStates(root: string, onBad: (file: string, err: unknown) => void): InstanceState[] {
  let names: string[];
  try {
    names = readdirSync(instancesStateDir(root)).filter((n) => n.endsWith('.json'));
  } catch {
    return [];
  }
  const out: InstanceState[] = [];
  for (const n of names) {
    const file = join(instancesStateDir(root), n);
    try {
      out.push(InstanceStateSchema.parse(JSON.parse(readFileSync(file, 'utf8'))));
    } catch (err) {
      onBad(file, err);
    }
  }
  return out;
}
