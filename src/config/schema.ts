import { z } from 'zod';
import cron from 'node-cron';
import { SSL_MODES, defaultSlotName } from '../postgres/index.js';
import { DIRECT_IO_MODES, SUPPORTED_COMPRESSION } from '../storage/index.js';
import { DATABASE_DEFAULTS } from './defaults.js';

/**
 * The configuration file's shape. Every object is strict: a misspelt key is an error, never
 * silently ignored (a typo in `retention_days` must not quietly keep WAL for the default time).
 * Keys are snake_case as written in YAML and kept so in the parsed config, so what a user reads in
 * an error message is exactly what they typed.
 */

const PORT_MSG = 'expected a number from 1 to 65535';
const port = z.int({ error: PORT_MSG }).min(1, { error: PORT_MSG }).max(65535, { error: PORT_MSG });

const nonEmpty = (what: string) => z.string({ error: `expected ${what}` }).min(1, { error: `expected ${what}, not an empty string` });

const cronExpr = z
  .string({ error: 'expected a cron expression such as "0 3 * * *"' })
  .refine((s) => cron.validate(s), { error: 'expected a valid cron expression such as "0 3 * * *"' });

export const COMPRESSION_ALGORITHMS = ['none', 'gzip', 'zstd', 'lz4'] as const;
export type CompressionAlgorithm = (typeof COMPRESSION_ALGORITHMS)[number];
const algorithm = z
  .enum(COMPRESSION_ALGORITHMS, { error: `expected one of ${COMPRESSION_ALGORITHMS.join(', ')}` })
  // The repository format reserves all four; refuse here what this build's storage cannot do
  // (rather than at the first WAL upload).
  .refine((a) => (SUPPORTED_COMPRESSION as readonly string[]).includes(a), {
    error: `not supported by this pitrd build (supported: ${SUPPORTED_COMPRESSION.join(', ')})`,
  });

/** `compression: zstd` is shorthand for `compression: { algorithm: zstd }`. */
const compression = z.preprocess(
  (v) => (typeof v === 'string' ? { algorithm: v } : v),
  z.strictObject({
    algorithm: algorithm.default('gzip'),
    level: z.int({ error: 'expected an integer compression level' }).min(-7, { error: 'expected a level from -7 to 22' }).max(22, { error: 'expected a level from -7 to 22' }).optional(),
  }),
);

/** Database names become object-store key segments and slot names: keep them boring. */
export const DATABASE_NAME_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;

const fsStorage = z.strictObject({
  type: z.literal('fs'),
  /** Relative paths are resolved against the config file's directory. */
  path: nonEmpty('a directory path').default('pitrd-data/repository'),
  /** O_DIRECT for the bulk of large objects: auto measures once which is faster (storage/direct-choice.ts). */
  direct_io: z.enum(DIRECT_IO_MODES, { error: `expected one of ${DIRECT_IO_MODES.join(', ')}` }).default('auto'),
});

const s3Storage = z.strictObject({
  type: z.literal('s3'),
  /** Absent = AWS; set for MinIO, R2, Ceph, s3rver… */
  endpoint: z.url({ error: 'expected a URL such as https://s3.example.com' }).optional(),
  region: nonEmpty('a region name').default('us-east-1'),
  bucket: nonEmpty('a bucket name'),
  /** Key prefix inside the bucket, without leading or trailing '/'. */
  prefix: z
    .string({ error: 'expected a key prefix' })
    .regex(/^(?:[^/]+(?:\/[^/]+)*)?$/, { error: 'expected a key prefix without leading, trailing or doubled "/"' })
    .default(''),
  access_key_id: nonEmpty('an access key id').optional(),
  secret_access_key: nonEmpty('a secret access key').optional(),
  force_path_style: z.boolean({ error: 'expected true or false' }).default(false),
});

const storage = z.discriminatedUnion('type', [fsStorage, s3Storage], { error: 'expected type "fs" or "s3"' });

const encryption = z
  .strictObject({
    /** Normally supplied through PITRD_ENCRYPTION_KEY, not written in the file. */
    key: nonEmpty('an encryption key').optional(),
    key_file: nonEmpty('a file path').optional(),
  })
  .default({});

const SHA256_HEX = /^[0-9a-f]{64}$/;
const positiveInt = z.int({ error: 'expected a positive integer' }).positive({ error: 'expected a positive integer' });
const RATE_LIMIT_DEFAULTS = { requests_per_minute: 60, burst: 10, failed_auth_per_minute: 10, failed_auth_burst: 20 };

function isPublicUrl(s: string): boolean {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return false;
  }
  return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '' && u.search === '' && u.hash === '' && u.username === '' && u.password === '' && !s.includes('?') && !s.includes('#');
}
const api = z
  .strictObject({
    listen: z
      .strictObject({
        host: nonEmpty('a host name or address').default('127.0.0.1'),
        port: port.default(7432),
      })
      .default({ host: '127.0.0.1', port: 7432 }),
    /** A file of API tokens managed by the CLI. */
    tokens_file: nonEmpty('a file path').optional(),
    /** sha256 (hex) of accepted bearer tokens: the config never holds a usable token. */
    token_hashes: z.array(z.string().regex(SHA256_HEX, { error: 'expected a sha256 hex digest (64 lower-case hex characters)' })).default([]),
    /**
     * Base of every link the API builds (signed download URLs), as clients reach the daemon
     * (a proxy, a DNS name): http(s)://host[:port][/path]. Without it: the bound address, or
     * the request's Host header when the daemon listens on a wildcard address.
     */
    public_url: z
      .string({ error: 'expected a URL such as https://pitrd.example.com' })
      .refine(isPublicUrl, { error: 'expected an http:// or https:// URL with a host and no query, fragment or user info, such as https://pitrd.example.com' })
      .optional(),
    /** Per-token limits, the tiers of the API reference (Free: 60/min, burst 10); failed authentications per client address. */
    rate_limit: z
      .strictObject({
        requests_per_minute: positiveInt.default(60),
        burst: positiveInt.default(10),
        failed_auth_per_minute: positiveInt.default(10),
        failed_auth_burst: positiveInt.default(20),
      })
      .default(RATE_LIMIT_DEFAULTS),
  })
  .default({ listen: { host: '127.0.0.1', port: 7432 }, token_hashes: [], rate_limit: RATE_LIMIT_DEFAULTS });

export { SSL_MODES };

const connection = z
  .strictObject({
    host: nonEmpty('a host name, address or socket directory').default('localhost'),
    port: port.default(5432),
    user: nonEmpty('a user name').default('postgres'),
    password: z.string({ error: 'expected a password string' }).optional(),
    password_file: nonEmpty('a file path').optional(),
    dbname: nonEmpty('a database name').default('postgres'),
    sslmode: z.enum(SSL_MODES, { error: `expected one of ${SSL_MODES.join(', ')}` }).default('prefer'),
    /** PEM files, as libpq's; relative paths are resolved against the config file's directory. */
    sslrootcert: nonEmpty('a file path').optional(),
    sslcert: nonEmpty('a file path').optional(),
    sslkey: nonEmpty('a file path').optional(),
  })
  .refine((c) => c.password === undefined || c.password_file === undefined, {
    error: 'set password or password_file, not both',
  })
  .refine((c) => (c.sslcert === undefined) === (c.sslkey === undefined), {
    error: 'set sslcert and sslkey together (the client certificate and its private key)',
  })
  .refine((c) => c.sslmode !== 'disable' || (c.sslrootcert === undefined && c.sslcert === undefined), {
    error: 'sslrootcert, sslcert and sslkey have no effect with sslmode disable; remove them or choose another sslmode',
  });

const database = z.strictObject({
  name: z.string({ error: 'expected a database name' }).regex(DATABASE_NAME_RE, {
    error: 'expected 1-63 characters of a-z, 0-9, "_" or "-", starting with a letter or digit',
  }),
  project: z.string({ error: 'expected a project id' }).regex(DATABASE_NAME_RE, {
    error: 'expected 1-63 characters of a-z, 0-9, "_" or "-", starting with a letter or digit',
  }).default('default'),
  connection,
  /** Default derived from the name: see defaultSlotName(). */
  slot_name: z
    .string({ error: 'expected a replication slot name' })
    .regex(/^[a-z0-9_]{1,63}$/, { error: 'expected 1-63 characters of a-z, 0-9 or "_" (PostgreSQL slot name rules)' })
    .optional(),
  pitr: z
    .strictObject({
      enabled: z.boolean({ error: 'expected true or false' }).default(DATABASE_DEFAULTS.pitr.enabled),
      retention_days: positiveInt.default(DATABASE_DEFAULTS.pitr.retention_days),
      /** Act as a synchronous standby (RPO = 0); the server must list the slot's application name. */
      synchronous: z.boolean({ error: 'expected true or false' }).default(DATABASE_DEFAULTS.pitr.synchronous),
    })
    .default({ ...DATABASE_DEFAULTS.pitr }),
  backup: z
    .strictObject({
      schedule: cronExpr.default(DATABASE_DEFAULTS.backup.schedule),
      /** Override of the repository-wide compression for this database's base backups. */
      compression: compression.optional(),
    })
    .default({ ...DATABASE_DEFAULTS.backup }),
  retention: z
    .strictObject({
      schedule: cronExpr.default(DATABASE_DEFAULTS.retention.schedule),
      /** Never expire below this many completed full backups, whatever their age. */
      min_full_backups: positiveInt.default(DATABASE_DEFAULTS.retention.min_full_backups),
      /** Expire backups older than this; default: pitr.retention_days. */
      max_age_days: positiveInt.optional(),
    })
    .default({ ...DATABASE_DEFAULTS.retention }),
  /** Restore drills on a cron schedule (the newest backup restored to its latest point and checked); absent: on demand only. */
  drill_schedule: cronExpr.optional(),
  drill: z
    .strictObject({
      /** Queries run on the restored server, in the database's dbname; each must return true (first column of its one row). */
      check_sql: z.array(nonEmpty('an SQL query'), { error: 'expected a list of SQL queries' }).readonly().default([]),
      /** No successful drill in this many hours raises drill_stale (default 192 with a drill_schedule; without one, only when set). */
      max_age_hours: positiveInt.optional(),
    })
    .default({ check_sql: [] }),
});

export const ConfigSchema = z
  .strictObject({
    storage: storage.default({ type: 'fs', path: 'pitrd-data/repository', direct_io: 'auto' }),
    compression: compression.default({ algorithm: 'gzip' }),
    encryption,
    spool_dir: nonEmpty('a directory path').default('pitrd-data/spool'),
    /**
     * Server binaries per PostgreSQL major (e.g. `17: /opt/pg17/bin`); majors not listed are
     * looked for in the usual places (src/postgres/cluster/bin-dirs.ts). Restores and branches
     * run the binaries of their backup's major.
     */
    postgres: z
      .strictObject({
        bin_dirs: z
          .record(z.string().regex(/^(1[3-8])$/, { error: 'expected a PostgreSQL major from 13 to 18' }), nonEmpty('a directory path'), { error: 'expected a map of PostgreSQL major to directory' })
          .default({}),
      })
      .default({ bin_dirs: {} }),
    /** Limits of the spool (its directory stays `spool_dir`). */
    spool: z
      .strictObject({
        /**
         * Bytes each database's spool may hold (complete segments waiting for upload + the
         * partial one); reached: the receiver stops confirming WAL and the slot keeps it on the
         * server until uploads free space. Absent: bounded by the disk only.
         */
        max_bytes: positiveInt.optional(),
      })
      .default({}),
    health: z
      .strictObject({
        /** WAL uploads failing longer than this raise the upload_failing alert. */
        upload_failure_alert_seconds: positiveInt.default(300),
      })
      .default({ upload_failure_alert_seconds: 300 }),
    /** The event index ("find the accident", `pitrd events`, GET …/pitr/events). */
    events: z
      .strictObject({
        /** A delete or update of at least this many rows of one table in one transaction is shown as an event. */
        large_change_rows: z.int({ error: 'expected a number of rows' }).min(100, { error: 'expected at least 100 (rows are indexed from 100 on)' }).default(1000),
      })
      .default({ large_change_rows: 1000 }),
    /** Where API restores and branches write their data directories; default: `restores` beside spool_dir. */
    restore_dir: nonEmpty('a directory path').optional(),
    /**
     * Bounds on the daemon's restores: each one is a full data directory and, left running or as a
     * branch, a server. Counted: restores in progress, restored servers left running, branches.
     */
    restores: z
      .strictObject({
        max_per_database: positiveInt.default(8),
        max_total: positiveInt.default(32),
        /** What must stay free on restore_dir's file system once a restore is written. */
        min_free_bytes: z.int({ error: 'expected a number of bytes' }).min(0, { error: 'expected a number of bytes' }).default(256 * 1024 * 1024),
      })
      .default({ max_per_database: 8, max_total: 32, min_free_bytes: 256 * 1024 * 1024 }),
    api,
    databases: z.array(database, { error: 'expected a list of databases' }).default([]),
  })
  .superRefine((cfg, ctx) => {
    // Names are unique within a project (two projects may each have a `main`); slot names across
    // the file, since two databases may be on one server.
    const seen = new Map<string, number>();
    const slots = new Map<string, number>();
    cfg.databases.forEach((db, i) => {
      const first = seen.get(`${db.project}/${db.name}`);
      if (first !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['databases', i, 'name'], message: `duplicate database name in project ${db.project}, already used by databases[${first}]`, input: db.name });
      } else seen.set(`${db.project}/${db.name}`, i);
      const slot = db.slot_name ?? defaultSlotName(db.name);
      const firstSlot = slots.get(slot);
      if (firstSlot !== undefined && first === undefined) {
        ctx.addIssue({ code: 'custom', path: ['databases', i, 'slot_name'], message: `replication slot name "${slot}" is already used by databases[${firstSlot}]; set a distinct slot_name`, input: db.slot_name });
      } else slots.set(slot, i);
    });
  });

/** What the file + environment parse to, before secrets are resolved. */
export type ParsedConfig = z.output<typeof ConfigSchema>;
export type StorageConfig = ParsedConfig['storage'];
export type FsStorageConfig = Extract<StorageConfig, { type: 'fs' }>;
export type S3StorageConfig = Extract<StorageConfig, { type: 's3' }>;
export type CompressionConfig = ParsedConfig['compression'];
export type ApiConfig = ParsedConfig['api'];
export type DatabaseConfig = ParsedConfig['databases'][number] & { slot_name: string };
export type ConnectionConfig = DatabaseConfig['connection'];

