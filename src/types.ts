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
 *
 * pitrd's own words (one meaning each; a second meaning gets another word):
 * archive        The WAL archive: a database's committed segments and history files in the
 *                repository (`wal/`), never the spool.
 * marker         The empty object `{segment}.{sha256}.{size}.idx` written after a segment: its
 *                commit point. A segment without its marker is an interrupted upload, invisible.
 * summary        A WAL summary: what one archived segment holds (LSN range, commit times, xids,
 *                restore points, the reader's state at its end), stored under `wal-summary/`.
 * catalog        The summaries and what is computed from them alone (recovery window, continuity
 *                gaps, verify): src/catalog, run in the daemon on the catalog thread. Nothing else.
 * consistency point Where replay from a base backup becomes consistent: its stop LSN / stop time.
 * lineage        A timeline with its ancestors up to each switch point: the WAL recovery along
 *                that timeline reads (src/wal/history.ts).
 * reach          How far replay from one base backup goes along a lineage before WAL is missing
 *                (src/wal/reach.ts `Reach`).
 * stretch        One run of restorable time in a recovery window: the gap-free WAL from one or
 *                more backups (`WindowRange`; the API lists them as `ranges`).
 * gap            Segments missing inside an archive where recovery would have to read them.
 * window input   Summaries of still-archived segments + histories + backups: what the window and
 *                a restore's target admission are both computed from (catalog/window-input.ts).
 * inventory      What retention decides over: a database's backups, segments, history files and
 *                restores, read in one pass (retention/inventory.ts).
 * journal        A retention run's list of what it is deleting, in the repository until the run
 *                ends, so a crashed run is finished by the next.
 * restore        Recovering a base backup + WAL to a target into a data directory (a restore
 *                record in `restores/` says how it went); `mode: running` leaves the server up.
 * branch         A restore served as a new running database through the API, kept until deleted.
 * drill          A scheduled restore that proves a backup restores (planned, issue 18).
 * project        The tenant a database belongs to; every repository key of a database is under it.
 * registry       The databases registered through the API (connection, PITR state, slot name).
 * source         A PostgreSQL server pitrd protects (never one pitrd starts itself).
 */

/** A byte position in WAL. bigint because LSNs exceed 2^53. */
export type Lsn = bigint;
export type TimelineId = number;

/**
 * libpq's `sslmode` values, the one list: the configuration file, the API's register body and the
 * connection code (src/postgres/tls-plan.ts: what each mode does) all read it from here.
 */
export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof SSL_MODES)[number];
