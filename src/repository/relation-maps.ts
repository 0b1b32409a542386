import { z } from 'zod';
import type { ObjectStore } from '../storage/types.js';
import type { DatabaseKeys } from './keys.js';
import type { MetaStore } from './meta.js';

/**
 * Relation names of a cluster as taken over SQL at one LSN: per database, relation file number →
 * schema.name and relkind. Kept for good (versioned by LSN), so an event names a relation also
 * after it is gone.
 */
export const RelationMapSchema = z.object({
  /** The server's WAL position when the map was taken ('X/Y'). */
  lsn: z.string().regex(/^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/),
  taken_at: z.string(),
  /** Why it was taken: base_backup, receiver_connect, catalog_change. */
  reason: z.string(),
  databases: z.array(
    z.object({
      oid: z.number().int(),
      name: z.string(),
      /** [relation file number, "schema.name", relkind] */
      relations: z.array(z.tuple([z.number().int(), z.string(), z.string()])),
    }),
  ),
});
export type RelationMap = z.infer<typeof RelationMapSchema>;

const LSN_KEY_RE = /^([0-9A-F]{16})\.json$/;

/** 'X/Y' → the 16-digit key that sorts in LSN order. */
export function lsnKeyOf(lsn: string): string {
  const [hi, lo] = lsn.split('/');
  return `${hi!.toUpperCase().padStart(8, '0')}${lo!.toUpperCase().padStart(8, '0')}`;
}

/** `relations/{LSN}.json`: one object per map taken (a map equal to the previous one is not stored). */
export class RelationMapStore {
  constructor(
    private readonly keys: DatabaseKeys,
    private readonly store: ObjectStore,
    private readonly meta: MetaStore,
  ) {}

  /** LSN keys of the stored maps, oldest first: one LIST. */
  async lsnKeys(): Promise<string[]> {
    const found: string[] = [];
    for await (const o of this.store.listAll(this.keys.relationMapsPrefix)) {
      const m = LSN_KEY_RE.exec(o.key.slice(this.keys.relationMapsPrefix.length));
      if (m) found.push(m[1]!);
    }
    return found.sort();
  }

  async get(lsnKey: string): Promise<RelationMap | null> {
    return this.meta.read(this.keys.relationMap(lsnKey), RelationMapSchema);
  }

  /** Every map, oldest first. */
  async list(): Promise<RelationMap[]> {
    const maps = await Promise.all((await this.lsnKeys()).map((k) => this.get(k)));
    return maps.filter((m): m is RelationMap => m !== null);
  }

  /** Store `map` unless the newest stored map names the same relations; true when written. */
  async put(map: RelationMap): Promise<boolean> {
    const keys = await this.lsnKeys();
    const last = keys.length ? await this.get(keys[keys.length - 1]!) : null;
    if (last && JSON.stringify(last.databases) === JSON.stringify(map.databases)) return false;
    await this.meta.write(this.keys.relationMap(lsnKeyOf(map.lsn)), RelationMapSchema, map);
    return true;
  }
}
