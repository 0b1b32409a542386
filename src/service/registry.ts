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
import { isPitrdError, PitrdError } from '../errors.js';
import { createCodecStore, type CodecStore, type ObjectStore } from '../storage/index.js';
import { SSL_MODES } from '../config/index.js';

export const REGISTRY_PREFIX = 'registry/databases/';

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
  created_at: z.string(),
  updated_at: z.string(),
});
export type RegisteredDatabase = z.infer<typeof RecordSchema>;

export function registryKey(project: string, name: string): string {
  return `${REGISTRY_PREFIX}${project}/${name}.json`;
}

export class DatabaseRegistryStore {
  private readonly codec: CodecStore;

  constructor(readonly store: ObjectStore, key?: Buffer) {
    // No compression: records are tiny; the key (when set) encrypts the password at rest.
    this.codec = createCodecStore(store, { compression: 'none', ...(key ? { key } : {}) });
  }

  async list(): Promise<RegisteredDatabase[]> {
    const out: RegisteredDatabase[] = [];
    for await (const o of this.store.listAll(REGISTRY_PREFIX)) {
      if (!o.key.endsWith('.json')) continue;
      const rec = await this.read(o.key);
      if (rec) out.push(rec);
    }
    return out;
  }

  async get(project: string, name: string): Promise<RegisteredDatabase | null> {
    return this.read(registryKey(project, name));
  }

  async put(rec: RegisteredDatabase): Promise<void> {
    await this.codec.put(registryKey(rec.project, rec.name), Buffer.from(JSON.stringify(rec)));
  }

  async delete(project: string, name: string): Promise<void> {
    await this.store.delete([registryKey(project, name)]);
  }

  private async read(key: string): Promise<RegisteredDatabase | null> {
    let buf: Buffer;
    try {
      buf = await this.codec.getBuffer(key);
    } catch (err) {
      if (isPitrdError(err, 'OBJECT_NOT_FOUND')) return null;
      throw err;
    }
    let json: unknown;
    try {
      json = JSON.parse(buf.toString('utf8'));
    } catch (err) {
      throw new PitrdError('REPO_INVALID', `registry object ${key} in ${this.store.location} is not valid JSON`, { context: { key }, cause: err });
    }
    const parsed = RecordSchema.safeParse(json);
    if (!parsed.success) throw new PitrdError('REPO_INVALID', `registry object ${key} in ${this.store.location} is malformed`, { context: { key } });
    return parsed.data;
  }
}
