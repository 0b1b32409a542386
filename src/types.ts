/**
 * Glossary — the words pitrd uses, exactly as PostgreSQL uses them.
 *
 * LSN            Log Sequence Number: a 64-bit byte position in the WAL stream, written `X/Y` (hex).
 * timeline (TLI) A history of WAL; a promotion or PITR starts a new one. Numbered from 1.
 * segment        A WAL file of `wal_segment_size` bytes (16 MiB by default), named
 *                TTTTTTTTXXXXXXXXYYYYYYYY (timeline, then segment number split in two).
 * partial        The segment still being written: its tail is in the spool as `<segment>.partial`.
 * history file   `TTTTTTTT.history`: for each ancestor timeline, the LSN where it was left.
 * slot           A physical replication slot: makes the server keep WAL the receiver has not
 *                confirmed (flushed) yet.
 * flush position The end of the last byte the receiver made durable; reported to the server,
 *                it advances the slot. Never ahead of what a crash would keep.
 * spool          The receiver's local directory of not-yet-uploaded WAL (fsync'd).
 * base backup    A physical copy of the data directory taken by pg_basebackup, consistent once
 *                the WAL from its start LSN to its stop LSN is replayed.
 * restore point  A named WAL record (`pg_create_restore_point`) usable as a recovery target.
 * repository     The object store holding everything needed to restore (DESIGN.md).
 * recovery window The span of times a restore can reach: from the oldest restorable backup's
 *                consistency point to the last commit in gap-free WAL after it.
 */

/** A byte position in WAL. bigint because LSNs exceed 2^53. */
export type Lsn = bigint;
export type TimelineId = number;
