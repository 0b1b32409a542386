import { PitrdError } from '../errors.js';
import type { ObjectStore } from '../storage/types.js';
import type { DatabaseKeys } from './keys.js';
import { describeIssues, type MetaStore } from './meta.js';
import { RestoreRecordSchema, type RestoreRecord, type RestoreRecordInput } from './schemas.js';

/** Records of restores run from this repository: `restores/{id}.json`. */
export class RestoreStore {
  constructor(
    private readonly keys: DatabaseKeys,
    private readonly store: ObjectStore,
    private readonly meta: MetaStore,
  ) {}

  async save(input: RestoreRecordInput): Promise<RestoreRecord> {
    const parsed = RestoreRecordSchema.safeParse(input);
    if (!parsed.success) {
      throw new PitrdError('VALIDATION_ERROR', `restore ${String(input.id)}: invalid record: ${describeIssues(parsed.error.issues)}`, {
        context: { restore: input.id },
      });
    }
    const rec = parsed.data;
    if (rec.database !== this.keys.database) {
      throw new PitrdError('VALIDATION_ERROR', `restore ${rec.id} belongs to database "${rec.database}", not "${this.keys.database}"`, { context: { restore: rec.id } });
    }
    await this.meta.write(this.keys.restoreJson(rec.id), RestoreRecordSchema, rec);
    return rec;
  }

  async get(id: string): Promise<RestoreRecord | null> {
    return this.meta.read(this.keys.restoreJson(id), RestoreRecordSchema);
  }

  /** Oldest first (started_at, then id). */
  async list(): Promise<RestoreRecord[]> {
    const out: RestoreRecord[] = [];
    for await (const o of this.store.listAll(this.keys.restoresPrefix)) {
      const m = /^([^/]+)\.json$/.exec(o.key.slice(this.keys.restoresPrefix.length));
      if (!m) continue;
      const rec = await this.get(m[1]!);
      if (rec) out.push(rec);
    }
    return out.sort((a, b) => (a.started_at === b.started_at ? (a.id < b.id ? -1 : 1) : Date.parse(a.started_at) - Date.parse(b.started_at)));
  }
}
