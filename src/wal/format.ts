/**
 * On-disk WAL layout constants (xlog_internal.h, xlogrecord.h, xact.h, pg_control.h) of
 * PostgreSQL 13 to 18; where a major differs, the constant says so. Offsets are for the 64-bit
 * little-endian builds pitrd supports.
 */
export const XLOG_PAGE_MAGIC_PG15 = 0xd110;

/**
 * XLOG_PAGE_MAGIC of each supported major: every WAL page starts with it, so a segment names
 * the major that wrote it (values read from each major's initdb'd pg_wal).
 */
const PAGE_MAGIC_OF_MAJOR: ReadonlyMap<number, number> = new Map([
  [13, 0xd106],
  [14, 0xd10d],
  [15, 0xd110],
  [16, 0xd113],
  [17, 0xd116],
  [18, 0xd118],
]);

/** The PostgreSQL major whose WAL pages carry this magic; undefined for any other value. */
export function majorOfPageMagic(magic: number): number | undefined {
  for (const [major, m] of PAGE_MAGIC_OF_MAJOR) if (m === magic) return major;
  return undefined;
}

/** The page magic of a major (tests, messages); undefined for an unsupported one. */
export function pageMagicOfMajor(major: number): number | undefined {
  return PAGE_MAGIC_OF_MAJOR.get(major);
}

export const SIZE_OF_SHORT_PAGE_HEADER = 24;
export const SIZE_OF_LONG_PAGE_HEADER = 40;
export const SIZE_OF_XLOG_RECORD = 24;
export const MAXALIGN = 8;

// xlp_info flags
export const XLP_FIRST_IS_CONTRECORD = 0x0001;
export const XLP_LONG_HEADER = 0x0002;
export const XLP_BKP_REMOVABLE = 0x0004;
export const XLP_FIRST_IS_OVERWRITE_CONTRECORD = 0x0008;
export const XLP_ALL_FLAGS = 0x000f;

// Resource managers (rmgrlist.h order); RM_MAX_ID is the last built-in one in PG 15.
export const RM_XLOG_ID = 0;
export const RM_XACT_ID = 1;
export const RM_SMGR_ID = 2;
export const RM_DBASE_ID = 4;
export const RM_STANDBY_ID = 8;
export const RM_HEAP2_ID = 9;
export const RM_HEAP_ID = 10;
export const RM_MAX_BUILTIN_ID = 21;

// Block references inside a record (xlogrecord.h)
export const XLR_MAX_BLOCK_ID = 32;
export const XLR_BLOCK_ID_DATA_SHORT = 255;
export const XLR_BLOCK_ID_DATA_LONG = 254;
export const XLR_BLOCK_ID_ORIGIN = 253;
export const XLR_BLOCK_ID_TOPLEVEL_XID = 252;
export const BKPBLOCK_FORK_MASK = 0x0f;
export const BKPBLOCK_HAS_IMAGE = 0x10;
export const BKPBLOCK_SAME_REL = 0x80;
export const BKPIMAGE_HAS_HOLE = 0x01;
export const BKPIMAGE_COMPRESSED_MASK = 0x04 | 0x08 | 0x10; // PGLZ | LZ4 | ZSTD (15+)
/** Before 15 one bit said "compressed" (0x02) and 0x04 was BKPIMAGE_APPLY, set on most images. */
export const BKPIMAGE_IS_COMPRESSED_PRE15 = 0x02;

/** The bimg_info bits that mean "this image is compressed" in a major's WAL. */
export function bkpImageCompressedMask(major: number): number {
  return major >= 15 ? BKPIMAGE_COMPRESSED_MASK : BKPIMAGE_IS_COMPRESSED_PRE15;
}
export const SIZE_OF_REL_FILE_NODE = 12;

// RM_XLOG_ID record kinds (xl_info & 0xF0)
export const XLOG_CHECKPOINT_SHUTDOWN = 0x00;
export const XLOG_CHECKPOINT_ONLINE = 0x10;
export const XLOG_SWITCH = 0x40;
export const XLOG_RESTORE_POINT = 0x70;
export const XLOG_END_OF_RECOVERY = 0x90;
export const XLOG_OVERWRITE_CONTRECORD = 0xd0;
/** A full-page image with no other change (log_newpage: new relation pages, index builds, rewrites). */
export const XLOG_FPI = 0xb0;

// RM_HEAP_ID kinds (heapam_xlog.h, xl_info & XLOG_HEAP_OPMASK); RM_HEAP2_ID's multi-insert
export const XLOG_HEAP_OPMASK = 0x70;
export const XLOG_HEAP_INSERT = 0x00;
export const XLOG_HEAP_DELETE = 0x10;
export const XLOG_HEAP_UPDATE = 0x20;
export const XLOG_HEAP_HOT_UPDATE = 0x40;
export const XLOG_HEAP2_MULTI_INSERT = 0x50;

// RM_SMGR_ID kinds (storage_xlog.h): xl_smgr_truncate = { BlockNumber blkno; RelFileNode; int flags }
export const XLOG_SMGR_TRUNCATE = 0x20;

/** RM_DBASE_ID's drop record (xl_dbase_drop_rec, db_id first): 0x10 up to 14, 0x20 from 15 on. */
export function xlogDbaseDrop(major: number): number {
  return major >= 15 ? 0x20 : 0x10;
}

// RM_STANDBY_ID: xl_running_xacts = { int xcnt; int subxcnt; bool overflow; nextXid; oldestRunningXid; … }
export const XLOG_RUNNING_XACTS = 0x10;
export const RUNNING_XACTS_OLDEST_OFFSET = 16;

/** Relation file numbers below this are the system catalogs' (FirstNormalObjectId). */
export const FIRST_NORMAL_OBJECT_ID = 16384;
/** pg_class's OID, which is also its relation file number until a VACUUM FULL of pg_class. */
export const PG_CLASS_RELFILE = 1259;

// RM_XACT_ID record kinds (xl_info & XLOG_XACT_OPMASK)
export const XLOG_XACT_OPMASK = 0x70;
export const XLOG_XACT_HAS_INFO = 0x80;
export const XLOG_XACT_COMMIT = 0x00;
export const XLOG_XACT_ABORT = 0x20;
export const XLOG_XACT_COMMIT_PREPARED = 0x30;
export const XLOG_XACT_ABORT_PREPARED = 0x40;

// xl_xact_xinfo flags: which sub-records follow a commit/abort
export const XACT_XINFO_HAS_DBINFO = 1 << 0;
export const XACT_XINFO_HAS_SUBXACTS = 1 << 1;
export const XACT_XINFO_HAS_RELFILENODES = 1 << 2;
export const XACT_XINFO_HAS_INVALS = 1 << 3;
export const XACT_XINFO_HAS_TWOPHASE = 1 << 4;
export const XACT_XINFO_HAS_ORIGIN = 1 << 5;
export const XACT_XINFO_HAS_GID = 1 << 7;
export const XACT_XINFO_HAS_DROPPED_STATS = 1 << 8;

/**
 * sizeof(xl_xact_stats_item), the statistics entries a commit or abort drops (15+): kind, dboid
 * and objoid (12 bytes) up to 17; 18 widened the object id to 64 bits (objid_lo, objid_hi: 16).
 */
export function xactStatsItemSize(major: number): number {
  return major >= 18 ? 16 : 12;
}
/** sizeof(SharedInvalidationMessage), every major. */
export const SIZE_OF_SHARED_INVAL_MESSAGE = 16;

/** TimestampTz epoch: microseconds since 2000-01-01 00:00:00 UTC. */
export const PG_EPOCH_UNIX_MS = 946_684_800_000;

/** TimestampTz (µs since 2000-01-01) → ISO 8601 UTC with all six fractional digits. */
export function timestampTzToIso(us: bigint): string {
  let secs = us / 1_000_000n;
  if (us < 0n && us % 1_000_000n !== 0n) secs -= 1n; // floor, not truncate
  const frac = us - secs * 1_000_000n;
  const base = new Date(Number(secs) * 1000 + PG_EPOCH_UNIX_MS).toISOString().slice(0, 19);
  return `${base}.${frac.toString().padStart(6, '0')}Z`;
}

/** ISO 8601 (any precision up to µs) → TimestampTz. */
export function isoToTimestampTz(iso: string): bigint {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?(Z|[+-]\d\d:?\d\d)$/.exec(iso);
  if (!m) throw new Error(`"${iso}" is not an ISO 8601 time`);
  const seconds = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(seconds)) throw new Error(`"${iso}" is not an ISO 8601 time`);
  const micros = BigInt((m[2] ?? '').padEnd(6, '0'));
  return BigInt(seconds - PG_EPOCH_UNIX_MS) * 1000n + micros;
}
