/**
 * Test helpers around the WAL receiver: open a repository on fs or S3, run a receiver in a child
 * process (so it can be SIGKILLed), run pg_receivewal as the byte-for-byte reference.
 */
import { execa, type ResultPromise } from 'execa';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ReceiverRepository, ReceiverStatus } from '../../src/receiver/index.js';
import type { ReplicationConnectionOptions } from '../../src/postgres/index.js';
import type { WalArchive } from '../../src/repository/types.js';
import { openRepository } from '../../src/repository/index.js';
import { createObjectStore } from '../../src/storage/index.js';
import { makeTempDir, type PgCluster } from './postgres.js';

export type RepoSpec =
  | { kind: 'fs'; dir: string }
  | { kind: 's3'; endpoint: string; bucket: string; accessKeyId: string; secretAccessKey: string; region: string; prefix?: string };

export interface ReceiverChildConfig {
  database: string;
  connection: ReplicationConnectionOptions;
  spoolDir: string;
  repo: RepoSpec;
  slotName?: string;
  synchronous?: boolean;
  statusIntervalMs?: number;
  /** Repository compression (default gzip); 'none' on fs takes the receiver's link fast path. */
  compression?: 'none' | 'gzip';
}

/** A real repository (src/storage + src/repository) on a local directory or an S3 server. */
export async function openReceiverRepo(spec: RepoSpec, database: string, compression: 'none' | 'gzip' = 'gzip'): Promise<{ repository: ReceiverRepository; wal: WalArchive; close(): Promise<void> }> {
  const store = createObjectStore(
    spec.kind === 'fs'
      ? { type: 'fs', path: spec.dir }
      : {
          type: 's3',
          endpoint: spec.endpoint,
          region: spec.region,
          bucket: spec.bucket,
          prefix: spec.prefix,
          accessKeyId: spec.accessKeyId,
          secretAccessKey: spec.secretAccessKey,
          forcePathStyle: true,
          // An outage must surface as an upload error quickly, not hang the uploader.
          connectionTimeoutMs: 2000,
          requestTimeoutMs: 10_000,
          maxAttempts: 2,
        },
  );
  const repo = await openRepository(store, { compression });
  const db = repo.database({ project: 'default', name: database });
  return { repository: db, wal: db.wal, close: () => store.close() };
}

/** Polls `fn` until it returns something truthy; fails after `timeoutMs` (a waitWhileProgressing with no progress to watch). */
export function waitFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 60_000, everyMs = 100): Promise<NonNullable<T>> {
  return waitWhileProgressing(what, fn, () => null, { stallMs: timeoutMs, capMs: timeoutMs, everyMs });
}

/**
 * waitFor for a busy machine: instead of one fixed deadline, it fails only when `progress()` (WAL
 * received, segments archived, lines logged…) has not changed for `stallMs`, so a slow run that
 * is still moving is waited for and a stuck one fails early; `capMs` bounds the whole wait.
 */
export async function waitWhileProgressing<T>(
  what: string,
  fn: () => T | Promise<T>,
  progress: () => unknown,
  { stallMs = 60_000, capMs = 480_000, everyMs = 100 }: { stallMs?: number; capMs?: number; everyMs?: number } = {},
): Promise<NonNullable<T>> {
  const start = Date.now();
  let seen = JSON.stringify(progress() ?? null);
  let movedAt = start;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    const now = Date.now();
    const p = JSON.stringify(progress() ?? null);
    if (p !== seen) {
      seen = p;
      movedAt = now;
    }
    if (now - movedAt > stallMs || now - start > capMs) {
      const why = now - start > capMs ? `${capMs} ms` : `${stallMs} ms without progress (last: ${p})`;
      throw new Error(`timed out after ${why} waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** What a receiver child has done so far (status line and log), for waitWhileProgressing. */
export function childProgress(child: ReceiverChild): unknown {
  const st = child.status();
  return [st?.status, st?.attempts, st?.bytes_received, st?.segments_archived, child.stderr().length];
}

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'receiver-child.ts');

export interface ReceiverChild {
  pid: number;
  /** Latest status line the child printed. */
  status(): ReceiverStatus | null;
  /** SIGKILL: a crash, nothing flushed on the way out. */
  kill(): Promise<void>;
  /** SIGTERM: clean stop; resolves with the final status. */
  stop(): Promise<ReceiverStatus | null>;
  stderr(): string;
  /** Resolves when the process has exited (e.g. at a crash point), with its signal if it was killed by one. */
  exited: Promise<string | null>;
}

/** `env`: extra environment (e.g. the test-only PITRD_CRASH_AT and PITRD_FLUSH_TRACE). */
export function spawnReceiverChild(cfg: ReceiverChildConfig, env: Record<string, string> = {}): ReceiverChild {
  const proc = execa(process.execPath, ['--import', 'tsx', CHILD], {
    env: { ...process.env, ...env, PITRD_RECEIVER_CHILD: JSON.stringify(cfg) },
    reject: false,
    buffer: false,
  });
  let latest: ReceiverStatus | null = null;
  let tail = '';
  let errText = '';
  proc.stdout!.on('data', (b: Buffer) => {
    tail += b.toString('utf8');
    const lines = tail.split('\n');
    tail = lines.pop() ?? '';
    for (const l of lines) if (l.startsWith('{')) latest = JSON.parse(l) as ReceiverStatus;
  });
  proc.stderr!.on('data', (b: Buffer) => {
    errText = (errText + b.toString('utf8')).slice(-20_000);
  });
  const exitSignal = proc.then((r) => r.signal ?? null);
  const exited = exitSignal.then(() => undefined);
  return {
    pid: proc.pid!,
    exited: exitSignal,
    status: () => latest,
    async kill() {
      proc.kill('SIGKILL');
      await exited;
    },
    async stop() {
      proc.kill('SIGTERM');
      await exited;
      return latest;
    },
    stderr: () => errText,
  };
}

export interface PgReceivewal {
  dir: string;
  slot: string;
  stop(): Promise<void>;
  /** Complete segment names written so far. */
  segments(): string[];
}

/** pg_receivewal with its own slot, --synchronous, as the reference copy of the WAL. */
export async function startPgReceivewal(cluster: PgCluster, slot: string): Promise<PgReceivewal> {
  await cluster.query('SELECT pg_create_physical_replication_slot($1, true)', [slot]);
  const dir = makeTempDir('pg_receivewal');
  const proc: ResultPromise = cluster.exec(
    'pg_receivewal',
    ['-D', dir, '-h', '127.0.0.1', '-p', String(cluster.port), '-U', 'postgres', '-S', slot, '--synchronous', '--no-password'],
    { reject: false },
  );
  const exited = proc.then(() => undefined);
  return {
    dir,
    slot,
    async stop() {
      proc.kill('SIGINT');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
    segments: () => (existsSync(dir) ? readdirSync(dir).filter((f) => /^[0-9A-F]{24}$/.test(f)).sort() : []),
  };
}

/** Current WAL insert position, and the segment holding it, after forcing a segment switch. */
export async function switchWal(cluster: PgCluster): Promise<{ lsn: string; segment: string }> {
  const [row] = await cluster.query<{ lsn: string; segment: string }>(
    'SELECT lsn::text AS lsn, pg_walfile_name(lsn) AS segment FROM (SELECT pg_switch_wal() AS lsn) s',
  );
  return row!;
}

/**
 * Every segment of `timeline` in the archive, compared byte for byte with a reference copy in
 * `ref.dir` (pg_receivewal's directory, or a server's own pg_wal kept by wal_keep_size), each
 * read through its marker (so its sha256 is verified). Returns the archived names; throws on the
 * first difference or a hole. `seen`: names already compared (skipped, then added to).
 */
export async function compareArchiveWithReference(wal: WalArchive, ref: { dir: string }, timeline: number, seen?: Set<string>): Promise<{ names: string[]; compared: number }> {
  const names: string[] = [];
  for await (const s of wal.listSegments(timeline)) names.push(s.name);
  names.sort();
  for (let i = 1; i < names.length; i++) {
    const prev = BigInt('0x' + names[i - 1]!.slice(8));
    const cur = BigInt('0x' + names[i]!.slice(8));
    // Names here are 1 MiB-segment names: low part counts 0..FFF, so hex arithmetic on the
    // 16 digits gives consecutive numbers within one xlogid.
    if (cur !== prev + 1n) throw new Error(`archive has a hole between ${names[i - 1]} and ${names[i]}`);
  }
  let compared = 0;
  for (const name of names) {
    if (seen?.has(name)) continue;
    const ours = await wal.getSegment(timeline, name);
    const refPath = join(ref.dir, name);
    if (!existsSync(refPath)) continue; // outside the range the reference holds
    if (!ours.equals(readFileSync(refPath))) throw new Error(`segment ${name} differs from the reference copy in ${ref.dir}`);
    compared++;
    seen?.add(name);
  }
  return { names, compared };
}
