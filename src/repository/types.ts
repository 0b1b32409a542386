/**
 * The contract between the repository and its writers (receiver, basebackup) and readers
 * (catalog, restore, retention). The layout is DESIGN.md's:
 *
 *   {prefix}/repo.json
 *   {prefix}/projects/{project}/databases/{db}/database.json
 *   {prefix}/projects/{project}/databases/{db}/wal/{TLI}/{SEGMENT}{ext}
 *   {prefix}/projects/{project}/databases/{db}/wal/{TLI}.history
 *   {prefix}/projects/{project}/databases/{db}/wal-summary/...
 *   {prefix}/projects/{project}/databases/{db}/backups/{id}/backup.json
 *   {prefix}/projects/{project}/databases/{db}/restores/{id}.json
 *
 * Data objects are written first; the metadata object that references them is written last and
 * is the commit point.
 */

export interface DatabaseInfo {
  name: string;
  project: string;
  system_identifier: string;
  pg_version: number;
  wal_segment_size: number;
  created_at: string;
  updated_at: string;
  /** Server settings worth knowing at restore time (e.g. data_checksums, wal_level), as PostgreSQL reports them. */
  settings?: Record<string, string>;
}

/** Outcome of pushing a WAL segment: stored now, or already present with identical content. */
export type WalPutOutcome = 'stored' | 'exists';

export interface StoredWalSegment {
  timeline: number;
  /** 24-hex-digit segment name, e.g. 000000010000000000000042. */
  name: string;
  /** Size of the original (decoded) segment in bytes. */
  size: number;
  /** sha256 (hex) of the original segment bytes. */
  sha256: string;
  archived_at: string;
  /** Store key of the segment object, when the listing knows it (lets readers skip a lookup). */
  key?: string;
  /** How the stored object is compressed (its key's extension). */
  compression?: 'none' | 'gzip' | 'zstd' | 'lz4';
}

/** A complete segment file that nobody writes any more (a segment in the receiver's spool). */
export interface SegmentFile {
  path: string;
  /** sha256 (hex) of its bytes when the caller already has it; otherwise the file is hashed. */
  sha256?: string | null;
}

/**
 * WAL side of a database's repository, as the receiver and the restore path use it.
 * A segment pushed twice with the same content is a no-op ('exists'); with different content
 * it throws WAL_SEGMENT_CONFLICT and the stored object is left untouched.
 */
export interface WalArchive {
  putSegment(timeline: number, name: string, data: Buffer): Promise<{ outcome: WalPutOutcome; sha256: string }>;
  /** putSegment from a file, without loading it when the repository can avoid it (optional). */
  putSegmentFile?(timeline: number, name: string, file: SegmentFile): Promise<{ outcome: WalPutOutcome; sha256: string }>;
  putHistory(timeline: number, content: Buffer): Promise<WalPutOutcome>;
  getSegment(timeline: number, name: string): Promise<Buffer>;
  getHistory(timeline: number): Promise<Buffer | null>;
  hasSegment(timeline: number, name: string): Promise<boolean>;
  /** Segments of one timeline (or all), in LSN order. */
  listSegments(timeline?: number): AsyncIterable<StoredWalSegment>;
  /** The highest complete segment on the highest timeline that has one, or null. */
  lastSegment(): Promise<{ timeline: number; name: string } | null>;
}
