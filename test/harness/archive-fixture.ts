/**
 * The setup most restore and catalog tests share: a real source of any major (15 unless asked; 1 MiB WAL segments), a real
 * repository (local directory or a real S3-protocol server, optionally encrypted) and the real
 * WAL receiver archiving the source into it (or, with `standby`, archiving a streaming standby of
 * it, which `promote()` turns into the source on timeline 2); with helpers for PITR base backups, "switch WAL and
 * wait until archived", a pitrd config file + CLI for the same repository, and reading the
 * `marker` table of a restored server. destroy() stops and removes everything it started.
 */
import { writeFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import pg from 'pg';
import { createBackupService } from '../../src/basebackup/index.js';
import { createReceiver, type Receiver } from '../../src/receiver/index.js';
import { openRepository, type BackupRecord, type DatabaseRepository, type Repository } from '../../src/repository/index.js';
import { runRestore, type RestoreResult, type RunRestoreOptions } from '../../src/restore/index.js';
import { createObjectStore, type ObjectStore } from '../../src/storage/index.js';
import type { TestMajor } from './pg-bins.js';
import { makeTempDir, startPostgres, type PgCluster } from './postgres.js';
import { waitFor } from './receiver.js';
import { startStandby, type StandbyCluster } from './standby.js';
import { startS3, type S3Server } from './s3.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
const MAIN = join(ROOT, 'src', 'cli', 'main.ts');

/** `pitrd -c <config> …` through tsx, never rejecting. */
export function runCli(config: string, args: string[]) {
  return execa(TSX, [MAIN, '-c', config, ...args], { reject: false, cwd: ROOT });
}

export interface ArchiveFixtureOptions {
  /** Prefix of the fixture's temp directories (`pitrd-<tag>-repo-…`). */
  tag: string;
  /** Extra postgresql.conf settings of the source. */
  settings?: Record<string, string | number>;
  /** Repository compression (default gzip). */
  compression?: 'none' | 'gzip';
  /** Where the repository lives (default fs: a local directory). */
  storage?: 'fs' | 's3';
  /** AES-256 repository key: the repository is encrypted when given. */
  key?: Buffer;
  /** Database name in the repository (default main). */
  database?: string;
  /** PostgreSQL major of the source (default 15). */
  major?: TestMajor;
  /**
   * The receiver streams from a standby of the source (same settings), so that `promote()` can
   * move the archive onto timeline 2 as a failover does.
   */
  standby?: boolean;
}

export interface ArchiveFixture {
  /** Where writes go: the primary, or after promote() the promoted standby. */
  readonly source: PgCluster;
  /** The standby the receiver streams from (`standby` option; after promote() the source too), else null. */
  readonly standby: StandbyCluster | null;
  /**
   * `standby` only: wait until the standby replayed everything the primary wrote, promote it
   * (timeline 2), destroy the old primary; `source` is the promoted server from then on.
   */
  promote(): Promise<void>;
  store: ObjectStore;
  repo: Repository;
  db: DatabaseRepository;
  receiver: Receiver;
  /** The fs repository's directory; '' on S3. */
  repoDir: string;
  s3: S3Server | null;
  /** A temp dir the postgres OS user can write, removed by destroy(). */
  tempDir(tag: string): string;
  /** A PITR base backup through the real backup service (its WAL comes from the receiver). */
  backup(label: string): Promise<BackupRecord>;
  /** Name of the segment holding the current WAL insert position. */
  currentSegment(): Promise<string>;
  /** Close the current segment (pg_switch_wal) and wait until it is archived (on its timeline); returns its name. */
  switchAndWait(timeoutMs?: number): Promise<string>;
  /** A pitrd config file for this repository (storage + compression + key); written once. */
  configFile(): string;
  /** `pitrd -c <configFile> …` through tsx, never rejecting. */
  cli(args: string[]): ReturnType<typeof runCli>;
  /** Ids of the marker table of a server listening on 127.0.0.1:port, in order. */
  markerIds(port: number): Promise<number[]>;
  /**
   * runRestore in 'running' mode into a fresh directory; `use` runs while the restored server
   * is up, then the server is stopped (also on failure) and the directory removed.
   */
  restoreRunning<T>(opts: Omit<RunRestoreOptions, 'db' | 'targetDir' | 'mode'>, use: (r: RestoreResult) => Promise<T>): Promise<T>;
  destroy(): Promise<void>;
}

export async function startArchiveFixture(o: ArchiveFixtureOptions): Promise<ArchiveFixture> {
  const dirs: string[] = [];
  const tempDir = (tag: string) => {
    const d = makeTempDir(`${o.tag}-${tag}`);
    dirs.push(d);
    return d;
  };
  const database = o.database ?? 'main';
  const compression = o.compression ?? 'gzip';
  let source: PgCluster | null = null;
  let standby: StandbyCluster | null = null;
  let s3: S3Server | null = null;
  let store: ObjectStore | null = null;
  let receiver: Receiver | null = null;
  const destroy = async () => {
    await receiver?.stop().catch(() => undefined);
    await store?.close();
    await standby?.destroy();
    await source?.destroy();
    await s3?.destroy();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  };
  try {
    [source, s3] = await Promise.all([startPostgres({ walSegmentSizeMB: 1, ...(o.settings ? { settings: o.settings } : {}), ...(o.major ? { major: o.major } : {}) }), o.storage === 's3' ? startS3() : Promise.resolve(null)]);
    const repoDir = s3 ? '' : tempDir('repo');
    const spool = tempDir('spool');
    store = s3
      ? createObjectStore({ type: 's3', endpoint: s3.endpoint, region: s3.region, bucket: s3.bucket, prefix: 'pitrd', accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, forcePathStyle: true })
      : createObjectStore({ type: 'fs', path: repoDir });
    const repo = await openRepository(store, { compression, ...(o.key ? { key: o.key } : {}) });
    const db = repo.database({ project: 'default', name: database });
    if (o.standby) standby = await startStandby(source, o.settings ?? {});
    receiver = createReceiver({ database, connection: { ...(standby ?? source).connection }, repository: db, spoolDir: spool, reconnectBackoff: { initialMs: 200, maxMs: 1000 } });
    await receiver.start();
    let src = source;
    let config: string | null = null;
    const configFile = () => {
      if (config) return config;
      config = join(tempDir('cfg'), 'pitrd.yaml');
      if (s3) {
        writeFileSync(
          config,
          [
            'storage:', '  type: s3', `  endpoint: ${s3.endpoint}`, `  region: ${s3.region}`, `  bucket: ${s3.bucket}`, '  prefix: pitrd',
            `  access_key_id: ${s3.accessKeyId}`, `  secret_access_key: ${s3.secretAccessKey}`, '  force_path_style: true',
            `compression: ${compression}`, ...(o.key ? ['encryption:', `  key: ${o.key.toString('hex')}`] : []), '',
          ].join('\n'),
          { mode: 0o600 },
        );
      } else {
        writeFileSync(config, `storage:\n  type: fs\n  path: ${repoDir}\ncompression: ${compression}\n${o.key ? `encryption:\n  key: ${o.key.toString('hex')}\n` : ''}`, { mode: 0o600 });
      }
      return config;
    };
    const markerIds = async (port: number) => {
      const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', password: src.connection.password });
      await c.connect();
      try {
        return (await c.query<{ id: number }>('SELECT id FROM marker ORDER BY id')).rows.map((r) => r.id);
      } finally {
        await c.end();
      }
    };
    const currentSegment = async () => (await src.query<{ f: string }>(`SELECT pg_walfile_name(pg_current_wal_lsn()) AS f`))[0]!.f;
    const rcv = receiver;
    return {
      get source() {
        return src;
      },
      standby,
      async promote() {
        const sb = standby;
        if (!sb) throw new Error('promote() needs an archive fixture started with standby: true');
        const [{ lsn }] = (await src.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')) as [{ lsn: string }];
        await waitFor(`standby replayed up to ${lsn}`, async () => (await sb.query<{ ok: boolean }>('SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok', [lsn]))[0]?.ok, 60_000);
        await sb.promote();
        // Nothing more is written on the old primary: its timeline 1 ends at the switch.
        await src.destroy();
        source = src = sb;
        await waitFor('receiver following timeline 2', () => rcv.status().timeline === 2, 60_000);
      },
      store,
      repo,
      db,
      receiver,
      repoDir,
      s3,
      tempDir,
      async backup(label) {
        const service = createBackupService({ repository: repo, databases: { [database]: { connection: { ...src.connection }, schedule: null, pitr: true, walTimeoutMs: 90_000 } } });
        try {
          return await service.run(database, { label });
        } finally {
          await service.stop();
        }
      },
      currentSegment,
      async switchAndWait(timeoutMs = 60_000) {
        const last = await currentSegment();
        await src.query(`SELECT pg_switch_wal()`);
        await waitFor(`segment ${last} archived`, () => db.wal.hasSegment(parseInt(last.slice(0, 8), 16), last), timeoutMs);
        return last;
      },
      configFile,
      cli: (args) => runCli(configFile(), args),
      markerIds,
      async restoreRunning(opts, use) {
        const root = tempDir('target');
        const r = await runRestore({ db, ...opts, targetDir: join(root, 'data'), mode: 'running' });
        try {
          return await use(r);
        } finally {
          await r.stopServer?.();
          rmSync(root, { recursive: true, force: true });
        }
      },
      destroy,
    };
  } catch (err) {
    await destroy();
    throw err;
  }
}
