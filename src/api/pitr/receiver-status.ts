import { z } from 'zod';

/**
 * A receiver's status as the API shows it (GET …/pitr/receiver-status): the fields this schema
 * names. The receiver's own status (src/receiver/status.ts) has these and more; the service hands
 * it over as it is, and the compiler checks that it still fits this contract.
 */
export const receiverStatusSchema = z.object({
  status: z.string(),
  started_at: z.string().nullable(),
  timeline: z.number().nullable(),
  last_wal_file: z.string().nullable(),
  last_received_lsn: z.string().nullable(),
  last_flushed_lsn: z.string().nullable(),
  last_uploaded_lsn: z.string().nullable(),
  bytes_received: z.number(),
  segments_archived: z.number(),
  upload_backlog: z.object({ segments: z.number(), bytes: z.number() }),
  errors: z.number(),
  lag_seconds: z.number(),
});

export type ReceiverStatusView = z.infer<typeof receiverStatusSchema>;
