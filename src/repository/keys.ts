import { createHash, randomBytes } from 'node:crypto';
import { PitrdError } from '../errors.js';
import { isSegmentName } from '../wal/index.js';
import { compressionExtension } from '../storage/index.js';
import type { CodecOptions } from '../storage/types.js';

/**
 * The repository layout (DESIGN.md), as pure functions of names. Keys are relative to the
 * ObjectStore, which is already scoped to the configured prefix.
 */

export const REPO_JSON_KEY = 'repo.json';

const DB_NAME_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export function tliHex(timeline: number): string {
  if (!Number.isInteger(timeline) || timeline < 1 || timeline > 0xffffffff) {
    throw new PitrdError('VALIDATION_ERROR', `timeline ${timeline} is not an integer from 1 to 4294967295`, { context: { timeline } });
  }
  return timeline.toString(16).toUpperCase().padStart(8, '0');
}

export function assertDatabaseName(name: string): void {
  if (!DB_NAME_RE.test(name)) {
    throw new PitrdError('VALIDATION_ERROR', `database name "${name}" must be 1-63 characters of a-z, 0-9, "_" or "-"`, { context: { database: name } });
  }
}

/** Project ids have the shape of database names (the API's and the config file's rule). */
export function assertProjectId(project: string): void {
  if (!DB_NAME_RE.test(project)) {
    throw new PitrdError('VALIDATION_ERROR', `project id "${project}" must be 1-63 characters of a-z, 0-9, "_" or "-"`, { context: { project } });
  }
}

/** Which database: names are unique within a project only, so a database is always named by both. */
export interface DatabaseRef {
  readonly project: string;
  readonly name: string;
}

/** One string per database (map keys, logs): `{project}/{name}`; neither part can hold a '/'. */
export function refKey(ref: DatabaseRef): string {
  return `${ref.project}/${ref.name}`;
}

/** Where format 2 keeps every project's databases. */
export const PROJECTS_PREFIX = 'projects/';
/** Where format 1 kept every database, whatever its project (read only by the upgrade). */
export const LEGACY_DATABASES_PREFIX = 'databases/';

export function assertId(kind: string, id: string): void {
  if (!ID_RE.test(id) || id.includes('..')) {
    throw new PitrdError('VALIDATION_ERROR', `${kind} id "${id}" must be 1-128 characters of A-Z, a-z, 0-9, "_", "-" or "."`, { context: { [kind]: id } });
  }
}

/** The segment must be named for the timeline it is filed under. */
export function assertSegment(timeline: number, name: string): void {
  if (!isSegmentName(name) || name.slice(0, 8) !== tliHex(timeline)) {
    throw new PitrdError('VALIDATION_ERROR', `"${name}" is not a WAL segment name on timeline ${timeline}`, { context: { timeline, segment: name } });
  }
}

export type Compression = CodecOptions['compression'];

/** The file extension of a stored segment says how it was compressed, so a reader needs no index. */
export const COMPRESSION_EXT: Readonly<Record<Compression, string>> = {
  none: compressionExtension('none'),
  gzip: compressionExtension('gzip'),
  zstd: compressionExtension('zstd'),
  lz4: compressionExtension('lz4'),
};

export function compressionOfExt(ext: string): Compression | null {
  for (const [c, e] of Object.entries(COMPRESSION_EXT) as [Compression, string][]) if (e === ext) return c;
  return null;
}

/**
 * A database's keys: `projects/{project}/databases/{name}/…`. The project is part of every key,
 * so one project's database can never name, list or read another project's objects, and a name
 * freed by one project and taken by another starts from nothing.
 */
export class DatabaseKeys {
  readonly root: string;
  readonly database: string;
  readonly project: string;
  constructor(ref: DatabaseRef) {
    assertProjectId(ref.project);
    assertDatabaseName(ref.name);
    this.project = ref.project;
    this.database = ref.name;
    this.root = `${projectDatabasesPrefix(ref.project)}${ref.name}/`;
  }
  get databaseJson(): string {
    return `${this.root}database.json`;
  }
  get walPrefix(): string {
    return `${this.root}wal/`;
  }
  walTimelinePrefix(timeline: number): string {
    return `${this.root}wal/${tliHex(timeline)}/`;
  }
  segment(timeline: number, name: string, compression: Compression): string {
    return `${this.walTimelinePrefix(timeline)}${name}${COMPRESSION_EXT[compression]}`;
  }
  /**
   * The per-segment index marker: an empty object whose key carries the sha256 and size of the
   * original segment, written after the segment itself. Its presence is the commit point of the
   * segment, and a listing alone yields everything a StoredWalSegment needs (no download).
   */
  segmentMarker(timeline: number, name: string, sha256: string, size: number): string {
    return `${this.walTimelinePrefix(timeline)}${name}.${sha256}.${size}.idx`;
  }
  history(timeline: number): string {
    return `${this.root}wal/${tliHex(timeline)}.history`;
  }
  get summaryPrefix(): string {
    return `${this.root}wal-summary/`;
  }
  summaryTimelinePrefix(timeline: number): string {
    return `${this.root}wal-summary/${tliHex(timeline)}/`;
  }
  summary(timeline: number, name: string): string {
    return `${this.root}wal-summary/${tliHex(timeline)}/${name}.json`;
  }
  /**
   * The event index ("find the accident"): the events of up to EVENT_CHUNK_SEGMENTS consecutive
   * segments of one timeline per object, so a query reads a few objects, not one per segment.
   */
  get eventIndexPrefix(): string {
    return `${this.root}event-index/`;
  }
  eventChunk(timeline: number, chunk: bigint): string {
    return `${this.root}event-index/${tliHex(timeline)}/${chunk.toString(16).toUpperCase().padStart(16, '0')}.json`;
  }
  /** Relation names (relation file → schema.table per database) as taken at an LSN. */
  get relationMapsPrefix(): string {
    return `${this.root}relations/`;
  }
  relationMap(lsnKey: string): string {
    if (!/^[0-9A-F]{16}$/.test(lsnKey)) throw new PitrdError('VALIDATION_ERROR', `"${lsnKey}" is not a 16-digit hexadecimal LSN key`, { context: { lsn: lsnKey } });
    return `${this.root}relations/${lsnKey}.json`;
  }
  get backupsPrefix(): string {
    return `${this.root}backups/`;
  }
  backupJson(id: string): string {
    assertId('backup', id);
    return `${this.root}backups/${id}/backup.json`;
  }
  backupData(id: string, name: string): string {
    assertId('backup', id);
    if (name === 'backup.json' || name === '' || name.startsWith('/') || name.split('/').some((p) => p === '' || p === '.' || p === '..')) {
      throw new PitrdError('VALIDATION_ERROR', `"${name}" is not a valid backup object name`, { context: { backup: id, name } });
    }
    return `${this.root}backups/${id}/${name}`;
  }
  get restoresPrefix(): string {
    return `${this.root}restores/`;
  }
  restoreJson(id: string): string {
    assertId('restore', id);
    return `${this.root}restores/${id}.json`;
  }
  get drillsPrefix(): string {
    return `${this.root}drills/`;
  }
  /** A restore drill's record (src/repository/drills.ts). */
  drillJson(id: string): string {
    assertId('drill', id);
    return `${this.root}drills/${id}.json`;
  }
  /**
   * A retention run's journal: written before its first deletion, removed after its last. Present
   * while a run deletes (or after one crashed): listings of the archive are then in flux.
   */
  get retentionJournal(): string {
    return `${this.root}retention/expiry-in-progress.json`;
  }
  /** The last retention run's report. */
  get retentionReport(): string {
    return `${this.root}retention/last-report.json`;
  }
}

/*
 * The daemon's own objects, beside the databases (same store, same prefix). Each is written
 * through the repository's codec (encrypted when the repository is) except api/projects.json,
 * which has always been plain JSON: existing repositories hold it so.
 */

/** Databases registered through the API: one object per database (src/service/registry.ts). */
export const REGISTRY_PREFIX = 'registry/databases/';

export function registryKey(project: string, name: string): string {
  return `${REGISTRY_PREFIX}${project}/${name}.json`;
}

/** The API's projects, all in one object (src/service/projects.ts). */
export const PROJECTS_KEY = 'api/projects.json';

/** The API's idempotency records (src/service/idempotency-store.ts). */
export const IDEMPOTENCY_PREFIX = 'api/idempotency/';

/**
 * One idempotency record per (token, key): named by the sha256 of "token id:key", since
 * idempotency keys are treated as secrets and never appear in the bucket.
 */
export function idempotencyKey(scopeKey: string): string {
  return `${IDEMPOTENCY_PREFIX}${createHash('sha256').update(scopeKey, 'utf8').digest('hex')}.json`;
}

/** The HMAC secret of the daemon's signed download URLs on fs repositories (src/service/url-signing-secret.ts). */
export const URL_SIGNING_SECRET_KEY = 'api/url-signing-secret';

/** The prefix under which one project's databases live. */
export function projectDatabasesPrefix(project: string): string {
  assertProjectId(project);
  return `${PROJECTS_PREFIX}${project}/databases/`;
}

/** Parsed key of an object under `wal/{TLI}/`: a segment, a marker, or something else. */
export type WalKey =
  | { kind: 'segment'; timeline: number; name: string; compression: Compression }
  | { kind: 'marker'; timeline: number; name: string; sha256: string; size: number };

const SEG_KEY_RE = /^([0-9A-F]{8})\/([0-9A-F]{24})((?:\.[a-z0-9]+)?)$/;
const MARKER_KEY_RE = /^([0-9A-F]{8})\/([0-9A-F]{24})\.([0-9a-f]{64})\.(\d+)\.idx$/;

/** `rel` is the key below a database's `wal/`. */
export function parseWalKey(rel: string): WalKey | null {
  const m = MARKER_KEY_RE.exec(rel);
  if (m && m[2]!.startsWith(m[1]!)) return { kind: 'marker', timeline: Number.parseInt(m[1]!, 16), name: m[2]!, sha256: m[3]!, size: Number(m[4]) };
  const s = SEG_KEY_RE.exec(rel);
  if (s && s[2]!.startsWith(s[1]!)) {
    const compression = compressionOfExt(s[3]!);
    if (compression !== null) return { kind: 'segment', timeline: Number.parseInt(s[1]!, 16), name: s[2]!, compression };
  }
  return null;
}

/** Sort key for LSN order across timelines: segment number first, then timeline. */
export function lsnOrderKey(name: string): string {
  return name.slice(8) + name.slice(0, 8);
}

/** A new id: prefix, UTC time to the second (sorts by creation), random suffix. */
export function newId(prefix: string): string {
  const t = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const r = randomBytes(4).toString('hex');
  return `${prefix}_${t}_${r}`;
}
