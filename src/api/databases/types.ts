import { SSL_MODES, type SslMode } from '../../types.js';
import type { ReceiverStatusView } from '../pitr/receiver-status.js';

/** libpq's sslmode values (one list: src/types.ts). */
export const SSL_MODE_VALUES = SSL_MODES;
export type { SslMode };

/** A protected database as the API shows it: never its password. */
export interface DatabaseView {
  id: string;
  name: string;
  project_id: string;
  /** 'config' = from the configuration file (read-only through the API); 'api' = registered. */
  source: 'config' | 'api';
  host: string;
  port: number;
  user: string;
  database: string;
  sslmode: SslMode;
  pitr_enabled: boolean;
  /**
   * A registered database: its receiver's state, or 'disabled' when PITR is off. A managed
   * instance: provisioning | running | stopped | failed (the instance's own state).
   */
  status: string;
  /** The region given when it was created or registered (recorded, not interpreted). */
  region: string | null;
  /** True for a PostgreSQL instance pitrd created and runs (POST without connection details). */
  managed: boolean;
  /** Why a managed instance failed (client-safe text), else null. */
  error?: string | null;
  created_at: string | null;
  /**
   * The server's PostgreSQL major (13 to 18), null while unknown: read when the database was
   * registered, or when its receiver or a base backup first reached the server.
   */
  pg_major: number | null;
  /**
   * Whether this host has server binaries of that major, which restores and branches of the
   * database run (postgres.bin_dirs, discovery); null while the major is unknown. Where they are
   * is the daemon's business (`pitrd config check` shows it).
   */
  restore_binaries: { available: boolean } | null;
}

/** Connection details of a database; the password only for a managed instance (pitrd generated it for the client). */
export interface DatabaseConnectionView {
  host: string;
  port: number;
  database: string;
  user: string;
  sslmode: string;
  password?: string;
}

export interface RegisterDatabaseInput {
  name: string;
  host: string;
  port: number;
  user: string;
  password?: string | undefined;
  dbname: string;
  sslmode: SslMode;
  region?: string | undefined;
}

/** A database pitrd creates and runs itself (Postbase's "provision", infrai's project.create). */
export interface ProvisionDatabaseInput {
  name: string;
  region?: string | undefined;
  /** Postbase's sizing hints (cpu, memory MB, storage GB): recorded, not enforced on this host. */
  config?: { cpu?: number | undefined; memory?: number | undefined; storage?: number | undefined } | undefined;
  /** PostgreSQL major; default: the newest one with server binaries on this host (15 first). */
  postgresVersion?: number | undefined;
  /** The client's own name for it when that is not a database name (infrai's project names). */
  displayName?: string | undefined;
}

/** What the database routes need from the daemon. */
export interface DatabaseService {
  /** Projects that exist only because the configuration file puts databases in them. */
  isConfigProject(projectId: string): boolean;
  list(projectId: string): Promise<DatabaseView[]>;
  /** DATABASE_NOT_FOUND when absent. */
  get(projectId: string, name: string): Promise<DatabaseView>;
  /**
   * CONFLICT when the name is taken (in any project: repository data is keyed by name);
   * POSTGRES_VERSION_UNSUPPORTED when the server answers with a major pitrd does not support
   * (a server that cannot be asked is accepted: its receiver checks the version when it connects).
   */
  register(projectId: string, input: RegisterDatabaseInput): Promise<DatabaseView>;
  /**
   * Create a managed instance (answers status 'provisioning' at once; 'running' once it streams
   * and its first base backup is stored). Absent: this daemon cannot create databases.
   */
  provision?(projectId: string, input: ProvisionDatabaseInput): Promise<DatabaseView>;
  /** Connection details (CONFLICT while a managed instance is provisioning). Absent: from get(). */
  connection?(projectId: string, name: string): Promise<DatabaseConnectionView>;
  /** Stops protecting it; with deleteData also removes its repository objects. A managed instance is also stopped and its data directory removed. */
  remove(projectId: string, name: string, deleteData: boolean): Promise<{ data_deleted: boolean; objects_deleted: number }>;
}

export interface PitrConfigView {
  enabled: boolean;
  retention_days: number;
  base_backup_id: string | null;
  recovery_window: { from: string; to: string } | null;
  wal_receiver_status: string;
}

export interface WalArchiveView {
  filename: string;
  timeline: number;
  size_bytes: number;
  archived_at: string;
}

/** What the PITR routes need from the daemon. */
export interface PitrService {
  config(projectId: string, name: string): Promise<PitrConfigView>;
  enable(projectId: string, name: string, retentionDays: number | undefined): Promise<PitrConfigView>;
  disable(projectId: string, name: string): Promise<PitrConfigView>;
  /** Every archived segment, in LSN order (timeline, name). */
  listWal(projectId: string, name: string): Promise<WalArchiveView[]>;
  /** PITR_NOT_ENABLED when the receiver is not running. */
  receiverStatus(projectId: string, name: string): Promise<ReceiverStatusView>;
  restartReceiver(projectId: string, name: string): Promise<ReceiverStatusView>;
}
