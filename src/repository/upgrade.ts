/**
 * `pitrd repo upgrade`: repository format 1 (`databases/{db}/…`, one namespace for every project)
 * to format 2 (`projects/{project}/databases/{db}/…`).
 *
 * Choice: an explicit command, not a migration at daemon start. Several daemons may share a
 * repository; one that started upgrading while another still wrote format-1 keys would strand
 * the other's WAL. The operator stops them all, upgrades once, and starts the new version.
 *
 * Crash-safe and resumable, in three commit points:
 *   1. repo.json becomes format 2 with `upgrade_in_progress` (owner of every old database,
 *      decided once): from here no pitrd of either version opens the repository for use.
 *   2. each object is copied to its new key, then its old key deleted; object stores have no
 *      rename, and a copy repeated after a crash rewrites the same bytes (encryption does not
 *      bind an object to its key, so stored bytes move as they are: no decoding, no key needed).
 *   3. repo.json loses `upgrade_in_progress` and records `upgraded` (the daemon moves format-1
 *      spool directories by it). A second run after that has nothing to do.
 */
import { PitrdError } from '../errors.js';
import type { ObjectStore } from '../storage/types.js';
import { assertDatabaseName, assertProjectId, LEGACY_DATABASES_PREFIX, projectDatabasesPrefix, REPO_JSON_KEY } from './keys.js';
import { checkRepoKey, readRawRepoJson, REPO_FORMAT, RepoJsonSchema, UpgradeRecordSchema, writeRepoJson, type UpgradeRecord } from './repo-json.js';

export interface UpgradeOptions {
  /** The repository key, checked against repo.json before anything moves. */
  key?: Buffer;
  /** The project that owns format 1's `databases/{name}/` (asked once per database, at the start). */
  ownerOf: (name: string) => string;
  /** Called after each object moved (progress; tests stop the upgrade here to resume it). */
  afterObject?: (moved: number) => void | Promise<void>;
  now?: () => Date;
}

export interface UpgradeReport {
  from: number;
  to: number;
  /** False when the repository was already at REPO_FORMAT with no upgrade to finish. */
  upgraded: boolean;
  resumed: boolean;
  owners: Record<string, string>;
  objects_moved: number;
}

const COPY_CONCURRENCY = 8;

export async function upgradeRepository(store: ObjectStore, opts: UpgradeOptions): Promise<UpgradeReport> {
  const now = opts.now ?? (() => new Date());
  const raw = await readRawRepoJson(store);
  if (!raw) throw new PitrdError('REPO_INVALID', `no repository (${REPO_JSON_KEY}) in ${store.location}`, { context: { key: REPO_JSON_KEY } });
  let record: UpgradeRecord;
  let resumed = false;
  if (raw.format === REPO_FORMAT) {
    const repo = RepoJsonSchema.parse(raw);
    checkRepoKey(repo, store, opts.key);
    if (!repo.upgrade_in_progress) return { from: REPO_FORMAT, to: REPO_FORMAT, upgraded: false, resumed: false, owners: {}, objects_moved: 0 };
    record = repo.upgrade_in_progress;
    resumed = true;
  } else if (raw.format === 1) {
    const old = RepoJsonSchema.omit({ format: true, upgrade_in_progress: true, upgraded: true }).safeParse(raw);
    if (!old.success) throw new PitrdError('REPO_INVALID', `${REPO_JSON_KEY} in ${store.location} is not a valid format-1 repo.json`, { context: { key: REPO_JSON_KEY } });
    checkRepoKey(old.data, store, opts.key);
    const owners: Record<string, string> = {};
    for (const name of await legacyDatabaseNames(store)) {
      const project = opts.ownerOf(name);
      assertProjectId(project);
      owners[name] = project;
    }
    record = UpgradeRecordSchema.parse({ from: 1, started_at: now().toISOString(), owners });
    await writeRepoJson(store, { ...raw, format: REPO_FORMAT, upgrade_in_progress: record });
  } else {
    throw new PitrdError('REPO_FORMAT_UNSUPPORTED', `${REPO_JSON_KEY} in ${store.location}: repository format ${JSON.stringify(raw.format)} cannot be upgraded by this pitrd (it upgrades format 1 to ${REPO_FORMAT})`, {
      context: { key: REPO_JSON_KEY, format: raw.format },
    });
  }

  let moved = 0;
  const batch: Array<{ key: string; size: number }> = [];
  const flush = async () => {
    const objs = batch.splice(0);
    for (let i = 0; i < objs.length; i += COPY_CONCURRENCY) {
      await Promise.all(objs.slice(i, i + COPY_CONCURRENCY).map((o) => copy(store, o.key, newKeyOf(o.key, record), o.size)));
    }
    // Deleted only once copied: a crash in between leaves both, and the next run copies again.
    await store.delete(objs.map((o) => o.key));
    for (let i = 0; i < objs.length; i++) await opts.afterObject?.(++moved);
  };
  for await (const o of store.listAll(LEGACY_DATABASES_PREFIX)) {
    batch.push({ key: o.key, size: o.size });
    if (batch.length >= 100) await flush();
  }
  await flush();

  const finished = { ...record, finished_at: now().toISOString() };
  const { upgrade_in_progress: _done, ...rest } = (await readRawRepoJson(store)) ?? raw;
  await writeRepoJson(store, { ...rest, format: REPO_FORMAT, upgraded: finished });
  return { from: record.from, to: REPO_FORMAT, upgraded: true, resumed, owners: record.owners, objects_moved: moved };
}

/** Names of format 1's databases: every `databases/{name}/` holding anything. */
async function legacyDatabaseNames(store: ObjectStore): Promise<string[]> {
  const names = new Set<string>();
  for await (const o of store.listAll(LEGACY_DATABASES_PREFIX)) {
    const name = o.key.slice(LEGACY_DATABASES_PREFIX.length).split('/')[0]!;
    names.add(name);
  }
  return [...names].sort();
}

function newKeyOf(key: string, record: UpgradeRecord): string {
  const rel = key.slice(LEGACY_DATABASES_PREFIX.length);
  const slash = rel.indexOf('/');
  const name = rel.slice(0, slash);
  assertDatabaseName(name);
  // A database that appeared after the owners were decided (nothing should write during an
  // upgrade) belongs where format 1's readers would have found it: the operator's project.
  const project = record.owners[name] ?? 'default';
  return `${projectDatabasesPrefix(project)}${rel}`;
}

async function copy(store: ObjectStore, from: string, to: string, size: number): Promise<void> {
  const body = await store.get(from);
  await store.put(to, body, { contentLength: size });
}
