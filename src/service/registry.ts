/**
 * Databases registered through the API, persisted in the repository so a restarted daemon (or a
 * new host with the same bucket) picks them up: one object per database at
 * `registry/databases/{project}/{name}.json`.
 *
 * The record holds the connection password (the receiver needs it to reconnect). It is written
 * through a CodecStore: when the repository is encrypted (encryption.key), the object is
 * AES-256-GCM encrypted like every other repository object; when it is not, the password sits in
 * clear text in the bucket, and anyone with read access to the bucket can read it. Prefer an
 * encrypted repository, or a role whose password is only valid for replication from this host.
 */
import { z } from 'zod';
import { SSL_MODES } from '../types.js';
import { metaStoreOf, registryKey, REGISTRY_PREFIX, type MetaStore } from '../repository/index.js';
import type { ObjectStore } from '../storage/index.js';

export { registryKey, REGISTRY_PREFIX };

const RecordSchema = z.object({
  version: z.literal(1),
  project: z.string(),
  name: z.string(),
  connection: z.object({
    host: z.string(),
    port: z.number().int(),
    user: z.string(),
    password: z.string().optional(),
    dbname: z.string(),
    sslmode: z.enum(SSL_MODES),
  }),
  pitr: z.object({ enabled: z.boolean(), retention_days: z.number().int().positive() }),
  /** Absent in records written before repository format 2: their slot is defaultSlotName(name). */
  slot_name: z.string().regex(/^[a-z0-9_]{1,63}$/).optional(),
  /** The server's PostgreSQL major as read at registration; absent when it could not be asked. */
  pg_major: z.number().int().optional(),
  /** Postbase's region, when the client gave one. */
  region: z.string().optional(),
  created_at: z.string(),
  updated_at: z.string(),
});
export type RegisteredDatabase = z.infer<typeof RecordSchema>;

export class DatabaseRegistryStore {
  /** No compression: records are tiny; the key (when set) encrypts the password at rest. */
  private readonly meta: MetaStore;

  constructor(readonly store: ObjectStore, key?: Buffer) {
    this.meta = metaStoreOf(store, key);
  }

  async list(): Promise<RegisteredDatabase[]> {
    const out: RegisteredDatabase[] = [];
    for await (const o of this.store.listAll(REGISTRY_PREFIX)) {
      if (!o.key.endsWith('.json')) continue;
      const rec = await this.meta.read(o.key, RecordSchema);
      if (rec) out.push(rec);
    }
    return out;
  }

  async get(project: string, name: string): Promise<RegisteredDatabase | null> {
    return this.meta.read(registryKey(project, name), RecordSchema);
  }

  async put(rec: RegisteredDatabase): Promise<void> {
    await this.meta.write(registryKey(rec.project, rec.name), RecordSchema, rec);
  }

  async delete(project: string, name: string): Promise<void> {
    await this.store.delete([registryKey(project, name)]);
  }
}
