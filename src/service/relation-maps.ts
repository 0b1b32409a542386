/**
 * Taking relation maps for the event index (relation file → schema.table per database) over SQL:
 * when a receiver starts and when the summarizer saw schema changes in newly archived WAL. The
 * base backup takes its own (src/basebackup/runner.ts). One take at a time per database, and not
 * more often than every `minIntervalMs`; failures are logged, never raised (names are a comfort,
 * the index works without them).
 */
import { loggedError } from '../errors.js';
import { takeRelationMap, type SourceConnection } from '../postgres/index.js';
import { refKey, type DatabaseRef, type Repository } from '../repository/index.js';

export interface RelationMapLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export class RelationMapTaker {
  private readonly running = new Set<string>();
  private readonly last = new Map<string, number>();

  constructor(
    private readonly repo: Repository,
    private readonly connectionOf: (ref: DatabaseRef) => SourceConnection | null,
    private readonly logger: RelationMapLogger,
    private readonly minIntervalMs = 10_000,
  ) {}

  /** Take a map now unless one is being taken or was taken within minIntervalMs; resolves when done. */
  async take(ref: DatabaseRef, reason: 'receiver_connect' | 'catalog_change'): Promise<void> {
    const key = refKey(ref);
    const now = Date.now();
    if (this.running.has(key) || now - (this.last.get(key) ?? -Infinity) < this.minIntervalMs) return;
    const conn = this.connectionOf(ref);
    if (!conn) return;
    this.running.add(key);
    this.last.set(key, now);
    try {
      const map = await takeRelationMap(conn, reason);
      const written = await this.repo.database(ref).relationMaps.put(map);
      if (written) this.logger.info({ project: ref.project, database: ref.name, lsn: map.lsn, reason }, 'relation map taken');
    } catch (err) {
      this.logger.warn({ project: ref.project, database: ref.name, reason, err: loggedError(err) }, 'relation map not taken: events name relation files instead of tables until the next one');
    } finally {
      this.running.delete(key);
    }
  }
}
