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
  /** The receiver's state, or 'disabled' when PITR is off. */
  status: string;
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

export interface RegisterDatabaseInput {
  name: string;
  host: string;
  port: number;
  user: string;
  password?: string | undefined;
  dbname: string;
  sslmode: SslMode;
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
  /** Stops protecting it; with deleteData also removes its repository objects. */
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
