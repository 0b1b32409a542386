import { z } from 'zod';
import { pgText, rfc3339 } from '../validation.js';
import type { TargetBody } from './types.js';

/** Ids the repository issues (newId): `rstr_20260125T143000Z_1a2b3c4d`, `bkp_…`, `br_…`. */
export const objectIdParam = (what: string, example: string) =>
  z.string().regex(/^[a-z]{2,8}_[0-9A-Za-z_-]{1,100}$/, { error: `expected a ${what} id like ${example}` });

export const restoreIdParam = objectIdParam('restore', 'rstr_20260125T143000Z_1a2b3c4d');

const LSN_MSG = 'expected an LSN such as 0/1A2B3C';

/**
 * The recovery target fields shared by restores and branches: at most one of them. The service
 * parses them (src/service/restore-target.ts, with the one parser src/restore/parse-target.ts).
 */
export const targetFields = {
  target_time: z
    .union([z.literal('latest'), rfc3339()], { error: 'expected an RFC 3339 timestamp such as 2026-01-25T14:30:00Z, or "latest"' })
    .optional()
    .describe('recover to this commit time (RFC 3339), or "latest" for the end of the archived WAL'),
  target_lsn: z.string().regex(/^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/, { error: LSN_MSG }).optional().describe('recover to this LSN'),
  target_xid: z
    .union([z.string().regex(/^[0-9]{1,20}$/), z.int().min(0)], { error: 'expected a transaction id (digits)' })
    .optional()
    .describe('recover to the commit of this transaction id'),
  target_name: pgText(1, 63).optional().describe('recover to this restore point (pg_create_restore_point)'),
  target: z.enum(['latest', 'immediate'], { error: 'expected "latest" or "immediate"' }).optional().describe('"latest": end of the archived WAL; "immediate": the base backup\'s consistency point'),
  inclusive: z.boolean({ error: 'expected true or false' }).optional().describe('stop just after (true, default) or just before the target (time / lsn / xid)'),
  timeline: z
    .union([z.int().min(1), z.enum(['latest', 'current'])], { error: 'expected a timeline number, "latest" or "current"' })
    .optional()
    .describe('recovery_target_timeline; default latest'),
};

/** Just the target fields of a restore or branch body (what the service parses). */
export function targetBody(body: TargetBody): TargetBody {
  const { target_time, target_lsn, target_xid, target_name, target, inclusive, timeline } = body;
  return { target_time, target_lsn, target_xid, target_name, target, inclusive, timeline };
}

export const restoreSchema = z.object({
  id: z.string(),
  database: z.string(),
  status: z.enum(['pending', 'running', 'completed', 'failed', 'interrupted']),
  target_kind: z.enum(['time', 'lsn', 'xid', 'name', 'latest', 'immediate']).nullable(),
  target_time: z.string().nullable(),
  target_lsn: z.string().nullable(),
  target_xid: z.string().nullable(),
  target_name: z.string().nullable(),
  backup_id: z.string().nullable(),
  mode: z.enum(['stopped', 'running']).nullable(),
  target_dir: z.string().nullable(),
  connection_uri: z.string().nullable(),
  wal_files_applied: z.number().int(),
  progress: z
    .object({
      phase: z.string(),
      bytes_done: z.number().nullable(),
      bytes_total: z.number().nullable(),
      segments_applied: z.number().nullable(),
      segments_total: z.number().nullable(),
      replay_lsn: z.string().nullable(),
    })
    .nullable(),
  started_at: z.string(),
  completed_at: z.string().nullable(),
  error: z.string().nullable(),
  removed_at: z.string().nullable(),
});
