import type { Receiver } from '../receiver/index.js';
import type { SslMode } from '../api/databases/index.js';

/** One protected database, from the configuration file or registered through the API. */
export interface DatabaseEntry {
  project: string;
  name: string;
  source: 'config' | 'api';
  host: string;
  port: number;
  user: string;
  /** Resolved when a connection is opened (config: password or password_file), never shown. */
  password: () => string | undefined;
  dbname: string;
  sslmode: SslMode;
  slotName: string;
  synchronous: boolean;
  pitr: { enabled: boolean; retention_days: number };
  created_at: string | null;
  receiver: Receiver | null;
}

export function entryKey(project: string, name: string): string {
  return `${project}/${name}`;
}
