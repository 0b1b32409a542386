/**
 * Crash points off the WAL path (src/crash): base backup, retention executor, restore. Each is
 * hit in the real CLI process that runs that code (`pitrd backup`, `pitrd expire`, `pitrd
 * restore`) with PITRD_CRASH_AT, which kills it as by kill -9 there; then the next run is checked:
 *  (a) `pitrd verify` (checksums too) finds nothing that metadata references missing or corrupt;
 *  (b) a backup killed half-way is never listed as completed, never in a recovery window, never
 *      chosen or accepted by a restore, and the next backup succeeds and records it interrupted
 *      (its process is gone), removing its data;
 *  (c) an interrupted retention run is finished by the next one from its journal, and leaves
 *      nothing referenced missing;
 *  (d) an interrupted restore leaves nothing that blocks the same restore run again, and the
 *      rerun restores exactly the rows committed by its target.
 * One cluster, one repository, one receiver (a child process, archiving throughout) for all.
 */
import { existsSync, readdirSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as toYaml } from 'yaml';
import { pgStop } from '../../src/postgres/cluster/index.js';
import { openRepository, type DatabaseRepository } from '../../src/repository/index.js';
import { IN_PROGRESS_MARK } from '../../src/restore/in-progress.js';
import { createObjectStore, type ObjectStore } from '../../src/storage/index.js';
import { parseLsn, segmentName, segnoOf } from '../../src/wal/index.js';
import { cliJson, makeTempDir, startPostgres, type PgCluster } from '../harness/index.js';
import { childProgress, spawnReceiverChild, waitWhileProgressing, type ReceiverChild } from '../harness/receiver.js';
import { pitrd, pitrdArgv } from './cli-fixture.js';

const DAY_MS = 86_400_000;
const SEG = 1024 * 1024;
let cluster: PgCluster;
let root: string;
let config: string;
let tmp: string;
let receiver: ReceiverChild | null = null;
let store: ObjectStore;
let db: DatabaseRepository;
/** Completed backups in order (b1, b2, b3 from the start; b4 after the crashed ones). */
const completed: string[] = [];
/** Backups whose process was killed half-way. */
const crashed: string[] = [];
/** Marker ids committed, and a time T after row 4's commit and before row 5's. */
const rows: number[] = [];
let T = '';

interface BackupView { id: string; status: string; label: string | null }
interface InfoView { databases: Array<{ backups: BackupView[]; recovery_windows: Array<{ backup_id: string | null }> }> }

async function row(): Promise<void> {
  const [r] = await cluster.query<{ id: number }>('INSERT INTO marker DEFAULT VALUES RETURNING id');
  rows.push(r!.id);
}

const backup = (label: string, env: Record<string, string> = {}) => pitrd(['-c', config, 'backup', '--label', label, '--wal-timeout', '180', '--json'], { env });

async function info(): Promise<InfoView['databases'][number]> {
  const r = await pitrd(['-c', config, 'info', '--json']);
  expect(r.exitCode, r.stderr).toBe(0);
  return cliJson<InfoView>(r.stdout).databases[0]!;
}

/** (a): the project's own verify, segments re-read against their sha256, backup objects checked. */
async function expectVerifies(when: string): Promise<void> {
  const r = await pitrd(['-c', config, 'verify', '--json']);
  expect(r.exitCode, `${when}: pitrd verify: ${r.stdout}${r.stderr}`).toBe(0);
  const report = cliJson<{ ok: boolean; databases: Array<{ problems: unknown[]; backups_checked: number }> }>(r.stdout);
  expect(report.ok, `${when}: ${JSON.stringify(report.databases[0]?.problems)}`).toBe(true);
}

function expectKilledAt(r: { signal?: string | undefined; exitCode?: number | undefined; stderr: unknown; stdout: unknown }, point: string): void {
  expect(r.signal, `expected a kill at ${point}; exit ${r.exitCode}: ${String(r.stderr)}${String(r.stdout)}`).toBe('SIGKILL');
  expect(String(r.stderr)).toContain(`crashing at ${point}`);
}

const keys = async (prefix: string) => {
  const out: string[] = [];
  for await (const o of store.listAll(prefix)) out.push(o.key);
  return out;
};

beforeAll(async () => {
  cluster = await startPostgres({ walSegmentSizeMB: 1 });
  await cluster.query('CREATE TABLE marker (id serial PRIMARY KEY)');
  root = makeTempDir('crash-bbr');
  tmp = join(root, 'tmp');
  mkdirSync(tmp);
  const repoDir = join(root, 'repo');
  config = join(root, 'pitrd.yaml');
  writeFileSync(config, toYaml({
    storage: { type: 'fs', path: repoDir },
    compression: 'none',
    spool_dir: join(root, 'spool'),
    databases: [{
      name: 'main',
      connection: { host: cluster.connection.host, port: cluster.connection.port, user: cluster.connection.user, password: cluster.connection.password, dbname: 'postgres' },
      pitr: { enabled: true, retention_days: 1 },
      retention: { min_full_backups: 1 },
    }],
  }));
  const r = spawnReceiverChild({ database: 'main', connection: cluster.connection, spoolDir: join(root, 'spool', 'default', 'main'), repo: { kind: 'fs', dir: repoDir }, compression: 'none', statusIntervalMs: 200 });
  receiver = r;
  await waitWhileProgressing('receiver running', () => r.status()?.status === 'running', () => childProgress(r));
  store = createObjectStore({ type: 'fs', path: repoDir });
  db = (await openRepository(store, { compression: 'none' })).database({ project: 'default', name: 'main' });
  // Retention needs backups to expire: three completed ones, a marker row before each.
  for (const label of ['b1', 'b2', 'b3']) {
    await row();
    const b = await backup(label);
    expect(b.exitCode, b.stderr).toBe(0);
    completed.push(cliJson<{ id: string }>(b.stdout).id);
  }
}, 600_000);

afterAll(async () => {
  await receiver?.stop().catch(() => undefined);
  await store?.close().catch(() => undefined);
  await cluster?.destroy();
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('crash points of base backup, restore and retention', () => {
  it('a backup killed after its start record or after its data is never usable nor chosen, and the next backup succeeds', async () => {
    for (const point of ['basebackup.after-start-record', 'basebackup.after-data']) {
      const r = await backup(point, { PITRD_CRASH_AT: `${point}:1` });
      expectKilledAt(r, point);
      const d = await info();
      const half = d.backups.find((b) => b.label === point);
      expect(half, `${point}: its record was written before the crash`).toBeDefined();
      crashed.push(half!.id);
      expect(half!.status).not.toBe('completed');
      expect(d.recovery_windows.map((w) => w.backup_id)).not.toContain(half!.id);
      if (point === 'basebackup.after-data') {
        // Every data object is stored, and still the backup is not usable.
        expect((await keys(db.keys.backupsPrefix + half!.id + '/')).length).toBeGreaterThan(1);
      }
      await expectVerifies(`after a crash at ${point}`);
      // Named explicitly, it is refused before anything is written.
      const dir = join(root, `restore-from-${point}`);
      const refused = await pitrd(['-c', config, 'restore', '--latest', '--backup', half!.id, '--target-dir', dir, '--json']);
      expect(refused.exitCode).not.toBe(0);
      expect(refused.stdout).toContain('BACKUP_NOT_FOUND');
      expect(existsSync(dir)).toBe(false);
    }
    // The restore below aims between the crashed backups and the next good one.
    await row();
    T = (await cluster.query<{ t: string }>("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS t"))[0]!.t;
    await row();
    const next = await backup('b4');
    expect(next.exitCode, next.stderr).toBe(0);
    completed.push(cliJson<{ id: string }>(next.stdout).id);
    const d = await info();
    expect(d.backups.filter((b) => b.status === 'completed').map((b) => b.id)).toEqual(completed);
    // The next backup found the killed ones' process gone: recorded interrupted, data removed
    // (not left running forever, which retention would keep).
    for (const id of crashed) {
      const rec = await db.backups.get(id);
      expect(rec?.status).toBe('interrupted');
      expect(rec?.error).toContain('died before it completed');
      expect((await keys(db.keys.backupsPrefix + id + '/')).filter((k) => !k.endsWith('/backup.json'))).toEqual([]);
    }
    await expectVerifies('after the next backup');
  }, 600_000);

  it('a restore killed after extracting leaves nothing that blocks running it again, and the rerun is exact', async () => {
    const target = join(root, 'restored');
    const args = ['-c', config, 'restore', '--to-time', T, '--target-dir', target, '--run', '--json'];
    const killed = await pitrd(args, { env: { PITRD_CRASH_AT: 'restore.after-extract:1', TMPDIR: tmp } });
    expectKilledAt(killed, 'restore.after-extract');
    // Half state: the extracted backup with the restore's mark, its work directory, its record running.
    expect(existsSync(join(target, 'PG_VERSION'))).toBe(true);
    expect(existsSync(join(target, IN_PROGRESS_MARK))).toBe(true);
    expect(readdirSync(tmp).filter((f) => f.startsWith('pitrd-restore-'))).toHaveLength(1);
    const dead = (await db.restores.list()).filter((r) => r.status === 'running');
    expect(dead).toHaveLength(1);
    await expectVerifies('after a crash at restore.after-extract');

    const rerun = await pitrd(args, { env: { TMPDIR: tmp } });
    expect(rerun.exitCode, rerun.stderr).toBe(0);
    const out = cliJson<{ restore: { id: string; backup_id: string }; connection_string: string }>(rerun.stdout);
    try {
      // The newest completed backup before T: b3, not one of the crashed ones (newer than b3, older than T).
      expect(out.restore.backup_id).toBe(completed[2]);
      // The restored server keeps the source's roles and passwords.
      const c = new pg.Client({ host: '127.0.0.1', port: Number(new URL(out.connection_string).port), user: 'postgres', database: 'postgres', password: cluster.connection.password });
      await c.connect();
      try {
        const ids = (await c.query<{ id: number }>('SELECT id FROM marker ORDER BY id')).rows.map((x) => x.id);
        expect(ids).toEqual(rows.slice(0, 4));
      } finally {
        await c.end();
      }
    } finally {
      await pgStop(target);
    }
    expect(existsSync(join(target, IN_PROGRESS_MARK))).toBe(false);
    // The dead restore's work directory went with it, and its record says what happened.
    expect(readdirSync(tmp).filter((f) => f.startsWith('pitrd-restore-'))).toEqual([]);
    const was = await db.restores.get(dead[0]!.id);
    expect(was?.status).toBe('failed');
    expect((was as Record<string, unknown>).interrupted).toBe(true);
    expect((await db.restores.get(out.restore.id))?.status).toBe('completed');
  }, 600_000);

  it('a retention run killed between deletions is finished by the next one, and nothing referenced goes missing', async () => {
    // Two days later, a one-day window: b4 anchors it; b1, b2, b3, the two interrupted records and
    // the WAL before b4 expire.
    const expire = (env: Record<string, string> = {}) => {
      const [bin, ...rest] = pitrdArgv(['-c', config, 'expire', '--json']);
      const base = Object.fromEntries(Object.entries(process.env).filter(([k, v]) => !k.startsWith('PITRD_') && v !== undefined)) as Record<string, string>;
      return execa(bin!, ['--import', join(import.meta.dirname, '..', 'harness', 'clock-shift.mjs'), ...rest], {
        env: { ...base, PITRD_TEST_CLOCK_SHIFT_MS: String(2 * DAY_MS), ...env }, extendEnv: false, reject: false,
      });
    };
    const [b1, b2, b3, b4] = completed as [string, string, string, string];
    const backupJson = async (id: string) => (await db.backups.get(id)) !== null;
    const dataOf = (id: string) => keys(db.keys.backupsPrefix + id + '/');
    const journal = async () => (await keys(db.keys.retentionJournal)).includes(db.keys.retentionJournal);
    const b4Start = (await db.backups.get(b4))!.start_lsn!;
    const walBefore = async () => {
      const out: string[] = [];
      for await (const s of db.wal.listSegments(1)) out.push(s.name);
      return out;
    };
    const firstBefore = (await walBefore())[0]!;

    // 1: killed after b1's backup.json went, before its data: the journal names b1.
    expectKilledAt(await expire({ PITRD_CRASH_AT: 'retention.after-delete:1' }), 'retention.after-delete');
    expect(await backupJson(b1)).toBe(false);
    expect((await dataOf(b1)).length).toBeGreaterThan(0);
    expect(await journal()).toBe(true);
    await expectVerifies('retention killed after a backup.json');

    // 2: the rerun first finishes b1 from the journal, then is killed after b3's backup.json.
    expectKilledAt(await expire({ PITRD_CRASH_AT: 'retention.after-delete:3' }), 'retention.after-delete');
    expect(await dataOf(b1)).toEqual([]);
    expect(await backupJson(b2)).toBe(false);
    expect(await dataOf(b2)).toEqual([]);
    expect(await backupJson(b3)).toBe(false);
    expect((await dataOf(b3)).length).toBeGreaterThan(0);
    await expectVerifies('retention killed after a second backup.json');

    // 3: finishes b3, deletes the two interrupted records (two steps each), then is killed after
    // the WAL markers went, before the segment objects.
    expectKilledAt(await expire({ PITRD_CRASH_AT: 'retention.after-delete:5' }), 'retention.after-delete');
    expect(await dataOf(b3)).toEqual([]);
    for (const id of crashed) expect(await backupJson(id)).toBe(false);
    expect((await walBefore())[0]! > firstBefore).toBe(true);
    expect(await journal()).toBe(true);
    await expectVerifies('retention killed between WAL markers and objects');

    // 4: unarmed, it finishes the WAL objects the journal names and finds nothing else to do.
    const last = await expire();
    expect(last.exitCode, String(last.stderr)).toBe(0);
    const report = cliJson<{ databases: Array<{ resumed: { wal_segments: number }; deleted: { backups: string[]; wal_segments: number } }> }>(String(last.stdout)).databases[0]!;
    expect(report.resumed.wal_segments).toBeGreaterThan(0);
    expect(report.deleted).toEqual({ backups: [], wal_segments: 0, histories: [] });
    expect(await journal()).toBe(false);
    // Nothing of the expired WAL is left, not even an uncommitted object; b4's WAL is all there.
    const startSeg = (await walBefore())[0]!;
    const objects = (await keys(db.keys.walTimelinePrefix(1))).map((k) => k.slice(db.keys.walTimelinePrefix(1).length, db.keys.walTimelinePrefix(1).length + 24));
    expect(objects.every((n) => n >= startSeg)).toBe(true);
    expect(startSeg <= segmentName(1, segnoOf(parseLsn(b4Start), SEG), SEG)).toBe(true);
    expect((await info()).backups.filter((b) => b.status === 'completed').map((b) => b.id)).toEqual([b4]);
    await expectVerifies('after retention finished');
    // Expired backups are gone for good, the interrupted ones with them.
    for (const id of [b1, b2, b3, ...crashed]) expect(await backupJson(id)).toBe(false);
    for (const id of [b1, b2, b3, ...crashed]) expect(await dataOf(id)).toEqual([]);
  }, 600_000);
});
