/**
 * Crash points (src/crash): the receiver process is made to die as by kill -9 at every named
 * point of the WAL data path (and at random further hits), under pgbench load. After each crash:
 *  (d) no flush position it ever confirmed to the server passed what it had made durable before
 *      (PITRD_FLUSH_TRACE), and the slot (what the server believes) is covered by the spool or archive;
 * and after each restart (each armed child restarts after the previous one's crash; a last,
 * unarmed one catches up at the end):
 *  (a) the archive has no hole,
 *  (b) every archived segment is byte-identical to pg_receivewal's on its own slot,
 *  (c) every segment its marker names exists and verifies against the marker's sha256.
 * The seed of the random hits is printed; PITRD_CRASH_SEED=<seed> replays a run.
 */
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CRASH_POINTS, type CrashPointName } from '../../src/crash/index.js';
import { parseLsn } from '../../src/wal/lsn.js';
import { segmentName } from '../../src/wal/segment.js';
import { makeTempDir, startPostgres, type PgCluster } from '../harness/index.js';
import { compareArchiveWithReference, openReceiverRepo, spawnReceiverChild, startPgReceivewal, switchWal, waitWhileProgressing, childProgress, type PgReceivewal, type ReceiverChild } from '../harness/receiver.js';
import { prng } from '../harness/prng.js';

const SEG = 1024 * 1024;
let cluster: PgCluster;
let ref: PgReceivewal;
const dirs: string[] = [];
const cleanups: Array<() => Promise<unknown>> = [];

function tempDir(tag: string): string {
  const d = makeTempDir(tag);
  dirs.push(d);
  return d;
}

beforeAll(async () => {
  cluster = await startPostgres({ walSegmentSizeMB: 1 });
  ref = await startPgReceivewal(cluster, 'reference');
  await cluster.exec('pgbench', ['-h', '127.0.0.1', '-p', String(cluster.port), '-U', 'postgres', '-i', '-s', '1', '-q', 'postgres']);
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await ref?.stop().catch(() => undefined);
  await cluster?.destroy();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});


/** How many hits a point sees per segment, roughly: the Nth hit is drawn below a few segments' worth. */
const HITS_RANGE: Partial<Record<CrashPointName, number>> = { 'receiver.after-write': 30, 'receiver.after-fsync': 6, 'receiver.before-feedback': 6, 'receiver.after-feedback': 6 };
const WAL_POINTS = CRASH_POINTS.filter((p) => p.startsWith('receiver.') || p.startsWith('uploader.'));

/** (d): every confirmed flush position is at or below a durable position logged before it by the same process. */
function checkFlushTrace(file: string): { confirms: number; durables: number } {
  if (!existsSync(file)) return { confirms: 0, durables: 0 };
  const maxDurable = new Map<number, bigint>();
  let confirms = 0;
  let durables = 0;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue; // a line cut by the kill
    let e: { kind: string; lsn: string; pid: number };
    try {
      e = JSON.parse(line) as typeof e;
    } catch {
      continue;
    }
    const lsn = BigInt(e.lsn);
    const max = maxDurable.get(e.pid) ?? -1n;
    if (e.kind === 'durable') {
      durables++;
      if (lsn > max) maxDurable.set(e.pid, lsn);
    } else {
      confirms++;
      expect(lsn <= max, `process ${e.pid} confirmed flush ${lsn} to the server while only ${max} was durable`).toBe(true);
    }
  }
  return { confirms, durables };
}

describe('crash points on the WAL data path', () => {
  it('loses nothing and confirms nothing early when the receiver dies at any crash point under load', async () => {
    const seed = Number(process.env.PITRD_CRASH_SEED ?? Date.now() % 1_000_000);
    const rand = prng(seed);
    const repoDir = tempDir('repo');
    const spoolDir = tempDir('spool');
    const trace = join(tempDir('trace'), 'flush.jsonl');
    const repo = await openReceiverRepo({ kind: 'fs', dir: repoDir }, 'crashy', 'none');
    cleanups.push(() => repo.close());
    const cfg = { database: 'crashy', connection: cluster.connection, spoolDir, repo: { kind: 'fs' as const, dir: repoDir }, compression: 'none' as const, statusIntervalMs: 200 };
    const load = cluster.exec('pgbench', ['-h', '127.0.0.1', '-p', String(cluster.port), '-U', 'postgres', '-T', '1800', '-c', '2', 'postgres'], { reject: false });
    cleanups.push(async () => load.kill('SIGKILL'));

    const plan: Array<{ point: CrashPointName; hit: number }> = WAL_POINTS.map((point) => ({ point, hit: 1 + Math.floor(rand() * (HITS_RANGE[point] ?? 3)) }));
    for (let i = 0; i < 2; i++) {
      const point = WAL_POINTS[Math.floor(rand() * WAL_POINTS.length)]!;
      // Uploads wait while the receiver catches up after a crash: an uploader point's later hits may take long under load.
      plan.push({ point, hit: 1 + Math.floor(rand() * (point.startsWith('uploader.') ? 2 : 3) * (HITS_RANGE[point] ?? 3)) });
    }
    const compared = new Set<string>();
    let child: ReceiverChild | null = null;
    cleanups.push(async () => child?.kill());
    const done: string[] = [];
    try {
      for (const { point, hit } of plan) {
        const t0 = Date.now();
        const armed = spawnReceiverChild(cfg, { PITRD_CRASH_AT: `${point}:${hit}`, PITRD_FLUSH_TRACE: trace });
        child = armed;
        // Waited for as long as the child makes progress (a busy machine is slow, not stuck).
        let exitedWith: string | null | undefined;
        void armed.exited.then((sig) => (exitedWith = sig));
        await waitWhileProgressing(`${point}:${hit} to be reached`, () => exitedWith !== undefined, () => childProgress(armed), { stallMs: 90_000 }).catch((err: unknown) => {
          throw new Error(`${(err as Error).message}\n${armed.stderr()}`);
        });
        const signal = exitedWith;
        expect(signal, `${point}:${hit}: ${armed.stderr()}`).toBe('SIGKILL');
        expect(armed.stderr()).toContain(`crashing at ${point}`);

        // (d) after the crash: the trace, and the slot as the server sees it.
        const traced = checkFlushTrace(trace);
        const [slot] = await cluster.query<{ restart_lsn: string | null }>("SELECT restart_lsn::text AS restart_lsn FROM pg_replication_slots WHERE slot_name = 'pitrd_crashy'");
        // (A new slot's restart_lsn is where the server was when it was made, not a confirmation.)
        if (slot?.restart_lsn && traced.confirms > 0) {
          const r = parseLsn(slot.restart_lsn);
          const segno = r / BigInt(SEG);
          const offset = Number(r % BigInt(SEG));
          const name = segmentName(1, segno, SEG);
          const prev = segmentName(1, segno - 1n, SEG);
          const size = (f: string) => (existsSync(join(spoolDir, f)) ? statSync(join(spoolDir, f)).size : -1);
          const covered =
            (offset === 0 && (size(prev) === SEG || (await repo.wal.hasSegment(1, prev)))) ||
            size(`${name}.partial`) >= offset ||
            size(name) === SEG ||
            (await repo.wal.hasSegment(1, name));
          if (!covered) console.log(readdirSync(spoolDir), armed.stderr(), readFileSync(trace, 'utf8').split('\n').slice(-30).join('\n'));
          expect(covered, `${point}:${hit}: the slot is at ${slot.restart_lsn}, beyond the WAL in the spool and the archive`).toBe(true);
        }

        // The next armed child is the restart; what this one archived before dying is checked now:
        // (a), (b), (c), and it never reported lost WAL.
        expect(armed.status()?.gap ?? null).toBeNull();
        await compareArchiveWithReference(repo.wal, ref, 1, compared);
        done.push(`${point}:${hit}`);
        if (process.env.PITRD_TEST_DEBUG) console.log(`${new Date(t0).toISOString()} ${point}:${hit} crashed and checked in ${Date.now() - t0} ms\n${armed.stderr()}`);
      }
      // A last restart: it must catch up without a hole, byte-identical to pg_receivewal.
      const last = spawnReceiverChild(cfg, { PITRD_FLUSH_TRACE: trace });
      child = last;
      await waitWhileProgressing('last child running', () => last.status()?.status === 'running', () => childProgress(last), { stallMs: 90_000 });
      load.kill('SIGINT');
      await load;
      const { segment } = await switchWal(cluster);
      await waitWhileProgressing(`archive to hold ${segment}`, () => repo.wal.hasSegment(1, segment), () => childProgress(last));
      await waitWhileProgressing(`pg_receivewal to hold ${segment}`, () => ref.segments().includes(segment), () => ref.segments().length);
      const { names } = await compareArchiveWithReference(repo.wal, ref, 1, compared);
      expect(names).toContain(segment);
      expect(last.status()?.gap ?? null).toBeNull();
      await last.stop();
    } catch (err) {
      throw new Error(`crash-point run with PITRD_CRASH_SEED=${seed} failed after ${done.join(' ')}: ${(err as Error).message}`, { cause: err });
    }
    const { confirms, durables } = checkFlushTrace(trace);
    expect(confirms).toBeGreaterThan(plan.length);
    expect(durables).toBeGreaterThan(plan.length);
    // No stale partial is left behind by the crashes: after the clean stop, only the tail's.
    expect(readdirSync(spoolDir).filter((f) => f.endsWith('.partial')).length).toBeLessThanOrEqual(1);
    expect(compared.size).toBeGreaterThanOrEqual(plan.length);
  }, 900_000);
});
