/** The receiver's status as the API and CLI show it. LSNs are formatted `X/Y`. */
/** `spool_full`: spool.max_bytes reached; nothing is received or confirmed until uploads free space. */
export type ReceiverState = 'starting' | 'running' | 'reconnecting' | 'stopped' | 'error' | 'spool_full';

import type { SlotState } from '../postgres/index.js';

export type { SlotState };

export interface ReceiverStatus {
  status: ReceiverState;
  started_at: string | null;
  timeline: number | null;
  system_identifier: string | null;
  wal_segment_size: number | null;
  last_wal_file: string | null;
  last_received_lsn: string | null;
  last_flushed_lsn: string | null;
  last_uploaded_lsn: string | null;
  bytes_received: number;
  segments_archived: number;
  upload_backlog: { segments: number; bytes: number };
  /** Failures so far (connections and uploads). */
  errors: number;
  /** Connection attempts made since start(). */
  attempts: number;
  last_error: { code: string; message: string; at: string } | null;
  /**
   * While uploads fail: the last error, when the failures began (the upload_failing alert's clock)
   * and how many attempts in a row failed; null once an upload succeeds.
   */
  upload_error: { code: string; message: string; since: string; consecutive_failures: number } | null;
  /** Seconds the flushed position is behind the server's last reported WAL end; 0 when caught up. */
  lag_seconds: number;
  slot: SlotState | null;
  /** WAL lost between the archive and where the server could resume. */
  gap: { from: string; to: string } | null;
}

export function initialStatus(): ReceiverStatus {
  return {
    status: 'stopped',
    started_at: null,
    timeline: null,
    system_identifier: null,
    wal_segment_size: null,
    last_wal_file: null,
    last_received_lsn: null,
    last_flushed_lsn: null,
    last_uploaded_lsn: null,
    bytes_received: 0,
    segments_archived: 0,
    upload_backlog: { segments: 0, bytes: 0 },
    errors: 0,
    attempts: 0,
    last_error: null,
    upload_error: null,
    lag_seconds: 0,
    slot: null,
    gap: null,
  };
}
