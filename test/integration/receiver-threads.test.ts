/**
 * The daemon's receivers share a few threads (src/daemon/receiver-pool.ts): several databases
 * stream on one thread, each with its own status; a thread that dies is reported on every
 * database it served, and all of them start again on a new thread and go on streaming; a stop
 * returns each one's final status and the last one out ends the thread.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, type Config } from '../../src/config/index.js';
import { ReceiverThreadPool } from '../../src/daemon/receiver-pool.js';
import { ReceiverThread } from '../../src/daemon/receiver-thread.js';
import { parseLsn } from '../../src/wal/index.js';
import { openRepository, type RepoJson } from '../../src/repository/index.js';
import { createObjectStore } from '../../src/storage/index.js';
import { makeTempDir, startPostgres, type PgCluster } from '../harness/index.js';
import { waitFor } from '../harness/receiver.js';

let cluster: PgCluster;
let dir: string;
let config: Config;
let repoJson: RepoJson;
const logger = pino({ level: 'silent' });

beforeAll(async () => {
  cluster = await startPostgres({ walSegmentSizeMB: 1 });
  dir = makeTempDir('pitrd-rthreads');
  config = parseConfig({ storage: { type: 'fs', path: join(dir, 'repo') }, compression: 'none', spool_dir: join(dir, 'spool') }, { baseDir: dir, env: {} });
  const store = createObjectStore({ type: 'fs', path: join(dir, 'repo') });
  repoJson = (await openRepository(store, { compression: 'none' })).repoJson;
  await store.close();
});

afterAll(async () => {
  await cluster?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function receiver(pool: ReceiverThreadPool, name: string): ReceiverThread {
  return new ReceiverThread(config, { database: name, connection: { ...cluster.connection }, spoolDir: join(dir, 'spool', name), slotName: `pitrd_${name}` }, logger, repoJson, pool);
}

/** Some WAL, switched out, then: every receiver has flushed past where the server was. */
async function allFlushPast(rs: ReceiverThread[]): Promise<void> {
  await cluster.query('CREATE TABLE IF NOT EXISTS t (x int)');
  await cluster.query('INSERT INTO t SELECT generate_series(1, 2000)');
  const [row] = await cluster.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn');
  await cluster.query('SELECT pg_switch_wal()');
  const target = parseLsn(row!.lsn);
  for (const r of rs) {
    await waitFor(`${r.slotName} flushed past ${row!.lsn}`, () => {
      const f = r.status().last_flushed_lsn;
      return f !== null && parseLsn(f) >= target;
    });
  }
}

describe('receiver threads', () => {
  it('runs several databases on one thread, replaces a dead thread for all of them, and ends it after the last stop', async () => {
    const pool = new ReceiverThreadPool(1);
    const rs = ['a', 'b', 'c'].map((n) => receiver(pool, n));
    for (const r of rs) await r.start();
    const host = pool.hosts[0]!;
    expect(host.sessionCount).toBe(3);
    expect(pool.liveThreads).toBe(1);
    await allFlushPast(rs);
    for (const r of rs) expect(r.status().status).toBe('running');

    await host.crash();
    for (const r of rs) {
      const st = await waitFor(`${r.slotName} reports the dead thread`, () => (r.status().status === 'error' ? r.status() : null));
      expect(st.last_error?.code).toBe('INTERNAL_ERROR');
      expect(st.last_error?.message).toMatch(/receiver thread exited/);
    }
    // All three start again, on one new thread, and stream on.
    for (const r of rs) await waitFor(`${r.slotName} running again`, () => r.status().status === 'running', 60_000);
    expect(host.started).toBe(2);
    expect(pool.liveThreads).toBe(1);
    await allFlushPast(rs);

    const finals = [];
    for (const r of rs) finals.push(await r.stop());
    for (const f of finals) {
      expect(f.status).toBe('stopped');
      expect(f.last_flushed_lsn).not.toBeNull();
    }
    expect(pool.liveThreads).toBe(0);
  });

  it('spreads databases over the pool: the fewest sessions first, in turn among equals', async () => {
    const pool = new ReceiverThreadPool(2);
    const rs = ['d', 'e', 'f'].map((n) => receiver(pool, n));
    expect(rs.map((r) => r.thread.index)).toEqual([0, 1, 0]);
    try {
      for (const r of rs) await r.start();
      expect(pool.liveThreads).toBe(2);
      await allFlushPast(rs);
    } finally {
      for (const r of rs) await r.stop();
    }
    expect(pool.liveThreads).toBe(0);
  });
});
