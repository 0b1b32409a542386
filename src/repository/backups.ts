import type { Readable } from 'node:stream';
import { isPitrdError, PitrdError } from '../errors.js';
import type { CodecStore, EncodedPutResult, GetDecodedOptions, ObjectStore } from '../storage/types.js';
import type { DatabaseKeys } from './keys.js';
import { describeIssues, type MetaStore } from './meta.js';
import { BackupRecordSchema, type BackupRecord, type BackupRecordInput } from './schemas.js';

/**
 * Base backups of one database: data objects under `backups/{id}/`, then `backups/{id}/backup.json`.
 * backup.json may be written several times while a backup runs (pending → running → …); the
 * write that says `completed` is the commit point and is refused unless every file it lists is
 * present in the store.
 */
export class BackupStore {
  constructor(
    private readonly keys: DatabaseKeys,
    private readonly store: ObjectStore,
    private readonly meta: MetaStore,
    /** Codec for data objects (the configured compression). */
    private readonly data: CodecStore,
  ) {}

  get compression(): CodecStore['codec']['compression'] {
    return this.data.codec.compression;
  }

  /** Store one data object (a tar, the manifest) of backup `id`; returns sizes and sha256 for backup.json. */
  async putData(id: string, name: string, body: Buffer | Readable, contentLength?: number): Promise<EncodedPutResult> {
    return this.data.put(this.keys.backupData(id, name), body, contentLength === undefined ? {} : { contentLength });
  }

  async getData(id: string, name: string, opts?: GetDecodedOptions): Promise<Readable> {
    return this.data.get(this.keys.backupData(id, name), opts);
  }

  /** The store key of a data object (for signed download URLs of the stored bytes). */
  dataKey(id: string, name: string): string {
    return this.keys.backupData(id, name);
  }

  /** Validate and write backup.json; returns the record with defaults filled in. */
  async save(input: BackupRecordInput): Promise<BackupRecord> {
    const parsed = BackupRecordSchema.safeParse(input);
    if (!parsed.success) {
      throw new PitrdError('VALIDATION_ERROR', `backup ${String(input.id)}: invalid backup.json: ${describeIssues(parsed.error.issues)}`, {
        context: { backup: input.id },
      });
    }
    const rec = parsed.data;
    if (rec.database !== this.keys.database) {
      throw new PitrdError('VALIDATION_ERROR', `backup ${rec.id} belongs to database "${rec.database}", not "${this.keys.database}"`, { context: { backup: rec.id } });
    }
    if (rec.status === 'completed') await this.assertFilesPresent(rec);
    await this.meta.write(this.keys.backupJson(rec.id), BackupRecordSchema, rec);
    return rec;
  }

  async get(id: string): Promise<BackupRecord | null> {
    return this.meta.read(this.keys.backupJson(id), BackupRecordSchema);
  }

  /** Every backup with a backup.json, oldest first (created_at, then id). */
  async list(): Promise<BackupRecord[]> {
    const out: BackupRecord[] = [];
    for await (const o of this.store.listAll(this.keys.backupsPrefix)) {
      const m = /^([^/]+)\/backup\.json$/.exec(o.key.slice(this.keys.backupsPrefix.length));
      if (!m) continue;
      const rec = await this.get(m[1]!);
      if (rec) out.push(rec);
    }
    return out.sort((a, b) => (a.created_at === b.created_at ? (a.id < b.id ? -1 : 1) : Date.parse(a.created_at) - Date.parse(b.created_at)));
  }

  /** Pin (keep whatever retention decides) or unpin a backup; BACKUP_NOT_FOUND if it has no backup.json. */
  async setPinned(id: string, pinned: boolean): Promise<BackupRecord> {
    const rec = await this.get(id);
    if (!rec) throw backupNotFound(this.keys.database, id);
    if (rec.pinned === pinned) return rec;
    return this.save({ ...rec, pinned });
  }

  /**
   * Delete a backup on request (CLI, API): a pinned one only with `force`. The one rule for both;
   * retention never calls this (it never plans a pinned backup's deletion).
   */
  async deleteRequested(id: string, opts: { force: boolean }): Promise<BackupRecord> {
    const rec = await this.get(id);
    if (!rec) throw backupNotFound(this.keys.database, id);
    if (rec.pinned && !opts.force) {
      throw new PitrdError('CONFLICT', `backup ${id} of database "${this.keys.database}" is pinned; unpin it or force the deletion`, { context: { backup_id: id } });
    }
    await this.remove(id);
    return rec;
  }

  /** Delete a backup: backup.json first (un-commit), then its data objects. Absent = no-op. */
  async remove(id: string): Promise<void> {
    await this.store.delete([this.keys.backupJson(id)]);
    const prefix = this.keys.backupJson(id).slice(0, -'backup.json'.length);
    const keys: string[] = [];
    for await (const o of this.store.listAll(prefix)) keys.push(o.key);
    if (keys.length) await this.store.delete(keys);
  }

  private async assertFilesPresent(rec: BackupRecord): Promise<void> {
    // A completed backup is a recovery starting point: without these, nothing can plan a restore from it.
    const missing = (['start_lsn', 'stop_lsn', 'stop_time', 'timeline'] as const).filter((k) => rec[k] === null);
    if (missing.length) {
      throw new PitrdError('VALIDATION_ERROR', `backup ${rec.id} cannot be marked completed without ${missing.join(', ')}`, { context: { backup: rec.id, missing } });
    }
    for (const f of rec.files) {
      let info;
      try {
        info = await this.store.head(this.keys.backupData(rec.id, f.name));
      } catch (err) {
        if (!isPitrdError(err, 'OBJECT_NOT_FOUND')) throw err;
        info = null;
      }
      if (!info) {
        throw new PitrdError('VALIDATION_ERROR', `backup ${rec.id} cannot be marked completed: its data object "${f.name}" is not in the repository`, {
          context: { backup: rec.id, name: f.name },
        });
      }
      if (info.size !== f.stored_size) {
        throw new PitrdError('VALIDATION_ERROR', `backup ${rec.id} cannot be marked completed: "${f.name}" has ${info.size} stored bytes, backup.json says ${f.stored_size}`, {
          context: { backup: rec.id, name: f.name },
        });
      }
    }
  }
}

function backupNotFound(database: string, id: string): PitrdError {
  return new PitrdError('BACKUP_NOT_FOUND', `no backup "${id}" of database "${database}"`, { context: { database, backup_id: id } });
}
