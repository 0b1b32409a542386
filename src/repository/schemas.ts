import { z } from 'zod';

/** Schemas of what the repository stores; reading back through them turns corruption into REPO_INVALID. */

const isoTime = z.string().refine((s) => !Number.isNaN(Date.parse(s)), { error: 'expected an ISO 8601 time' });
const lsn = z.string().regex(/^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/i, { error: 'expected an LSN such as 0/1A2B3C' });
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, { error: 'expected a sha256 hex digest' });
const size = z.int().nonnegative();
const compression = z.enum(['none', 'gzip', 'zstd', 'lz4']);

export const DatabaseInfoSchema = z.looseObject({
  name: z.string().min(1),
  project: z.string().min(1),
  system_identifier: z.string().regex(/^\d+$/, { error: 'expected a decimal system identifier' }),
  // The major (e.g. 17). Receivers before 2026-12-04 wrote server_version_num (170004) here:
  // read as its major, so those repositories need no rewrite.
  pg_version: z.int().positive().transform((v) => (v >= 10000 ? Math.floor(v / 10000) : v)),
  wal_segment_size: z.int().positive(),
  created_at: isoTime,
  updated_at: isoTime,
  settings: z.record(z.string(), z.string()).optional(),
});

export const BACKUP_TYPES = ['manual', 'automated'] as const;
export const BACKUP_STATUSES = ['pending', 'running', 'completed', 'failed', 'interrupted'] as const;

export const BackupFileSchema = z.looseObject({
  /** Object name below backups/{id}/, e.g. base.tar. */
  name: z.string().min(1),
  /** Original (decoded) bytes. */
  size,
  /** Bytes in the store after compression/encryption. */
  stored_size: size,
  /** sha256 of the original bytes. */
  sha256,
});

/**
 * backup.json. Loose: the base-backup module may add fields (manifest details, tablespaces)
 * without a change here; the fields below are checked.
 */
export const BackupRecordSchema = z.looseObject({
  id: z.string().min(1),
  database: z.string().min(1),
  type: z.enum(BACKUP_TYPES),
  status: z.enum(BACKUP_STATUSES),
  label: z.string().nullable().default(null),
  created_at: isoTime,
  start_lsn: lsn.nullable().default(null),
  stop_lsn: lsn.nullable().default(null),
  start_time: isoTime.nullable().default(null),
  /** The consistency point: the backup is usable for recovery to any time at or after this. */
  stop_time: isoTime.nullable().default(null),
  timeline: z.int().positive().nullable().default(null),
  original_size: size.nullable().default(null),
  stored_size: size.nullable().default(null),
  compression: compression.default('none'),
  files: z.array(BackupFileSchema).default([]),
  pg_version: z.int().positive().nullable().default(null),
  system_identifier: z.string().nullable().default(null),
  expires_at: isoTime.nullable().default(null),
  error: z.string().nullable().default(null),
  pinned: z.boolean().default(false),
});

export type BackupRecord = z.output<typeof BackupRecordSchema>;
/** What a writer supplies: defaults (nulls, pinned false, files []) may be left out. */
export type BackupRecordInput = z.input<typeof BackupRecordSchema>;
export type BackupFile = z.output<typeof BackupFileSchema>;
export type BackupType = (typeof BACKUP_TYPES)[number];
export type BackupStatus = (typeof BACKUP_STATUSES)[number];

export const RESTORE_STATUSES = ['pending', 'running', 'completed', 'failed'] as const;

/** restores/{id}.json. Loose for the same reason as backup.json. */
export const RestoreRecordSchema = z.looseObject({
  id: z.string().min(1),
  database: z.string().min(1),
  status: z.enum(RESTORE_STATUSES),
  /** ISO time, or 'latest'. */
  target_time: z.union([isoTime, z.literal('latest')]).nullable().default(null),
  target_lsn: lsn.nullable().default(null),
  target_name: z.string().nullable().default(null),
  backup_id: z.string().nullable().default(null),
  wal_files_applied: z.int().nonnegative().default(0),
  /** A `latest` restore also replayed this segment from the receiver's spool (its .partial, zero-padded). */
  partial_segment: z.string().optional(),
  started_at: isoTime,
  completed_at: isoTime.nullable().default(null),
  error: z.string().nullable().default(null),
});

export type RestoreRecord = z.output<typeof RestoreRecordSchema>;
export type RestoreRecordInput = z.input<typeof RestoreRecordSchema>;
export type RestoreStatus = (typeof RESTORE_STATUSES)[number];

/** A WAL summary is opaque here (defined by the WAL parser); it only has to be JSON. */
export const JsonValueSchema: z.ZodType<unknown> = z.json();
