import { PitrdError } from '../errors.js';
import type { CodecStore, ObjectStore } from '../storage/types.js';
import { BackupStore } from './backups.js';
import type { Compression, DatabaseKeys } from './keys.js';
import type { MetaStore } from './meta.js';
import { DrillStore } from './drills.js';
import { RestoreStore } from './restores.js';
import { DatabaseInfoSchema } from './schemas.js';
import type { DatabaseInfo } from './types.js';
import { RepoWalArchive } from './wal-archive.js';
import { WalSummaryStore } from './wal-summaries.js';
import { EventIndexStore } from './event-index.js';
import { RelationMapStore } from './relation-maps.js';

/** What a caller supplies to saveInfo(); name and timestamps are filled in. */
export type DatabaseInfoInput = Omit<DatabaseInfo, 'name' | 'created_at' | 'updated_at'>;

/** One database's part of the repository: `projects/{project}/databases/{name}/…`. */
export class DatabaseRepository {
  readonly name: string;
  readonly project: string;
  readonly wal: RepoWalArchive;
  readonly backups: BackupStore;
  readonly restores: RestoreStore;
  readonly drills: DrillStore;
  readonly walSummaries: WalSummaryStore;
  readonly events: EventIndexStore;
  readonly relationMaps: RelationMapStore;

  constructor(
    readonly keys: DatabaseKeys,
    store: ObjectStore,
    private readonly meta: MetaStore,
    codecFor: (c: Compression) => CodecStore,
    compression: Compression,
  ) {
    this.name = keys.database;
    this.project = keys.project;
    this.wal = new RepoWalArchive(this.keys, store, meta, codecFor, compression);
    this.backups = new BackupStore(this.keys, store, meta, codecFor(compression));
    this.restores = new RestoreStore(this.keys, store, meta);
    this.drills = new DrillStore(this.keys, store, meta);
    this.walSummaries = new WalSummaryStore(this.keys, store, meta);
    this.events = new EventIndexStore(this.keys, store, meta);
    this.relationMaps = new RelationMapStore(this.keys, store, meta);
  }

  /** database.json, or null before the first connection to the server was recorded. */
  async info(): Promise<DatabaseInfo | null> {
    return this.meta.read(this.keys.databaseJson, DatabaseInfoSchema);
  }

  /**
   * Record what the server is. A different system_identifier than the one on record is refused
   * with SYSTEM_ID_MISMATCH: the config now points at another cluster, and mixing its WAL into
   * this history would make every restore wrong.
   */
  async saveInfo(input: DatabaseInfoInput): Promise<DatabaseInfo> {
    const existing = await this.info();
    if (existing && existing.system_identifier !== input.system_identifier) {
      throw new PitrdError(
        'SYSTEM_ID_MISMATCH',
        `database "${this.name}" is archived from the cluster with system identifier ${existing.system_identifier}, but the server now reports ${input.system_identifier}; use a new database name for a different cluster`,
        { context: { database: this.name, stored: existing.system_identifier, actual: input.system_identifier } },
      );
    }
    const now = new Date().toISOString();
    const info: DatabaseInfo = { ...input, name: this.name, created_at: existing?.created_at ?? now, updated_at: now };
    await this.meta.write(this.keys.databaseJson, DatabaseInfoSchema, info);
    return info;
  }
}
