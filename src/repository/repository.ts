import { createCodecStore } from '../storage/index.js';
import type { CodecStore, ObjectStore } from '../storage/types.js';
import { DatabaseRepository } from './database.js';
import { COMPRESSION_EXT, DatabaseKeys, projectDatabasesPrefix, PROJECTS_PREFIX, refKey, type Compression, type DatabaseRef } from './keys.js';
import { MetaStore } from './meta.js';
import { confirmRepoJson, openRepoJson, type RepoJson } from './repo-json.js';

export interface OpenRepositoryOptions {
  /** 32-byte AES-256-GCM key; absent = unencrypted repository. */
  key?: Buffer;
  /** Compression for new WAL segments and backup data (the config's `compression`). */
  compression: Compression | { algorithm: Compression; level?: number };
}

/** A checked repository: repo.json exists and matches the key. */
export class Repository {
  private readonly codecs = new Map<Compression, CodecStore>();
  private readonly meta: MetaStore;
  private readonly handles = new Map<string, DatabaseRepository>();

  constructor(
    readonly store: ObjectStore,
    readonly repoJson: RepoJson,
    /** True when this open created repo.json. */
    readonly created: boolean,
    private readonly key: Buffer | undefined,
    private readonly compression: Compression,
    private readonly level: number | undefined,
  ) {
    this.meta = new MetaStore(this.codecFor('none'));
  }

  /** The handle for one project's database (created lazily; nothing is written until something is saved). */
  database(ref: DatabaseRef): DatabaseRepository {
    const keys = new DatabaseKeys(ref);
    const k = refKey(ref);
    let h = this.handles.get(k);
    if (!h) {
      h = new DatabaseRepository(keys, this.store, this.meta, (c) => this.codecFor(c), this.compression);
      this.handles.set(k, h);
    }
    return h;
  }

  /**
   * Read repo.json again and check it is still the repository this handle was opened on (a handle
   * opened from a verified local copy while storage was unreachable confirms it before writing).
   */
  async confirm(): Promise<void> {
    await confirmRepoJson(this.store, this.repoJson);
  }

  /** Databases with a database.json (of one project, or of all), sorted by project then name. */
  async listDatabases(project?: string): Promise<DatabaseRef[]> {
    const prefix = project === undefined ? PROJECTS_PREFIX : projectDatabasesPrefix(project);
    const out: DatabaseRef[] = [];
    for await (const o of this.store.listAll(prefix)) {
      const m = /^projects\/([^/]+)\/databases\/([^/]+)\/database\.json$/.exec(o.key);
      if (m) out.push({ project: m[1]!, name: m[2]! });
    }
    return out.sort((a, b) => (refKey(a) < refKey(b) ? -1 : refKey(a) > refKey(b) ? 1 : 0));
  }

  /**
   * The codec that decodes the object at `key` (for reading by hand: `pitrd repo get`): the
   * repository's key, and the compression its name's extension says (`.gz`; none otherwise).
   */
  codecOfKey(key: string): CodecStore {
    const ext = (Object.entries(COMPRESSION_EXT) as [Compression, string][]).find(([, e]) => e !== '' && key.endsWith(e));
    return this.codecFor(ext ? ext[0] : 'none');
  }

  /** One CodecStore per compression: reads pick it from the stored key's extension. */
  private codecFor(compression: Compression): CodecStore {
    let c = this.codecs.get(compression);
    if (!c) {
      c = createCodecStore(this.store, {
        compression,
        ...(compression === this.compression && this.level !== undefined ? { level: this.level } : {}),
        ...(this.key ? { key: this.key } : {}),
      });
      this.codecs.set(compression, c);
    }
    return c;
  }
}

/**
 * Open (or, on first use, create) the repository in `store`. Fails with REPO_KEY_MISMATCH,
 * REPO_KEY_REQUIRED, REPO_FORMAT_UNSUPPORTED or REPO_INVALID before writing anything.
 */
export async function openRepository(store: ObjectStore, opts: OpenRepositoryOptions): Promise<Repository> {
  const { algorithm, level } = typeof opts.compression === 'string' ? { algorithm: opts.compression, level: undefined } : opts.compression;
  // Unsupported compression or a malformed key fail here, before repo.json could be written.
  createCodecStore(store, { compression: algorithm, ...(opts.key ? { key: opts.key } : {}) });
  const { repo, created } = await openRepoJson(store, { compression: algorithm, ...(opts.key ? { key: opts.key } : {}) });
  return new Repository(store, repo, created, opts.key, algorithm, level);
}

/**
 * A second handle on a repository another handle already opened and checked (`checked` is its
 * repo.json): no I/O, so a worker thread gets its handle even while storage is unreachable —
 * the receiver must keep streaming into its spool through a storage outage.
 */
export function reopenRepository(store: ObjectStore, checked: RepoJson, opts: OpenRepositoryOptions): Repository {
  const { algorithm, level } = typeof opts.compression === 'string' ? { algorithm: opts.compression, level: undefined } : opts.compression;
  createCodecStore(store, { compression: algorithm, ...(opts.key ? { key: opts.key } : {}) });
  return new Repository(store, checked, false, opts.key, algorithm, level);
}
