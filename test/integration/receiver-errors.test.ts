/**
 * Configuration mistakes end in status 'error' with a clear last_error and a slow retry, never a
 * tight reconnect loop: wrong password, a role without REPLICATION, a server that cannot
 * replicate (wal_level=minimal), and a repository that belongs to another cluster.
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReceiver, type ReceiverOptions, type ReceiverStatus } from '../../src/receiver/index.js';
import { makeTempDir, startPostgres, type PgCluster } from '../harness/index.js';
import { openReceiverRepo, waitFor } from '../harness/receiver.js';

let cluster: PgCluster;
const dirs: string[] = [];
const closers: Array<() => Promise<unknown>> = [];

function tempDir(tag: string): string {
  const d = makeTempDir(tag);
  dirs.push(d);
  return d;
}

beforeAll(async () => {
  cluster = await startPostgres({ walSegmentSizeMB: 1 });
  await cluster.query("CREATE ROLE plain LOGIN PASSWORD 'plain-pw'");
});

afterAll(async () => {
  for (const c of closers) await c().catch(() => undefined);
  await cluster?.destroy();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Run a receiver until it reports 'error', then watch it a while: it must not retry meanwhile. */
async function expectPermanentError(opts: Omit<ReceiverOptions, 'repository' | 'spoolDir'>, repoName = opts.database, repoDir = tempDir('repo')): Promise<ReceiverStatus> {
  const repo = await openReceiverRepo({ kind: 'fs', dir: repoDir }, repoName);
  closers.push(() => repo.close());
  const receiver = createReceiver({ ...opts, repository: repo.repository, spoolDir: tempDir('spool'), permanentErrorRetryMs: 60_000, reconnectBackoff: { initialMs: 50, maxMs: 100 } });
  try {
    await receiver.start();
    const st = await waitFor('status error', () => (receiver.status().status === 'error' ? receiver.status() : null), 30_000);
    // A tight loop would make dozens of attempts in this time (reconnect backoff is 50 ms).
    await new Promise((r) => setTimeout(r, 1500));
    const later = receiver.status();
    expect(later.status).toBe('error');
    expect(later.attempts).toBe(1);
    return st;
  } finally {
    await receiver.stop();
  }
}

describe('receiver configuration errors', () => {
  it('reports a wrong password as POSTGRES_AUTH_FAILED', async () => {
    const st = await expectPermanentError({ database: 'badpw', connection: { ...cluster.connection, password: 'wrong' } });
    expect(st.last_error?.code).toBe('POSTGRES_AUTH_FAILED');
    expect(st.last_error?.message).toMatch(/password authentication failed/);
    expect(st.last_error?.message).not.toContain('wrong');
  });

  it('reports a role without REPLICATION as REPLICATION_NOT_PERMITTED', async () => {
    const st = await expectPermanentError({ database: 'norepl', connection: { ...cluster.connection, user: 'plain', password: 'plain-pw' } });
    expect(st.last_error?.code).toBe('REPLICATION_NOT_PERMITTED');
    expect(st.last_error?.message).toMatch(/replication|WAL sender/i);
  });

  it('reports a server with wal_level=minimal as REPLICATION_NOT_PERMITTED', async () => {
    const minimal = await startPostgres({ walSegmentSizeMB: 1, settings: { wal_level: 'minimal', max_wal_senders: 0 } });
    try {
      const st = await expectPermanentError({ database: 'minimal', connection: minimal.connection });
      expect(st.last_error?.code).toBe('REPLICATION_NOT_PERMITTED');
      expect(st.last_error?.message).toMatch(/max_wal_senders/);
    } finally {
      await minimal.destroy();
    }
  });

  it('refuses to stream into a repository of another cluster (SYSTEM_ID_MISMATCH)', async () => {
    const repoDir = tempDir('repo');
    const repo = await openReceiverRepo({ kind: 'fs', dir: repoDir }, 'shared');
    closers.push(() => repo.close());
    await repo.repository.saveInfo({ project: 'default', system_identifier: '1234567890123456789', pg_version: 150000, wal_segment_size: 1024 * 1024 });
    const st = await expectPermanentError({ database: 'shared', connection: cluster.connection }, 'shared', repoDir);
    expect(st.last_error?.code).toBe('SYSTEM_ID_MISMATCH');
    expect(st.last_error?.message).toContain('1234567890123456789');
    // Nothing was streamed: the slot was never even created.
    const slots = await cluster.query("SELECT 1 FROM pg_replication_slots WHERE slot_name = 'pitrd_shared'");
    expect(slots).toHaveLength(0);
  });

  it('never overwrites an archived segment with different bytes (WAL_SEGMENT_CONFLICT): keeps it in the spool', async () => {
    const repoDir = tempDir('repo');
    const spoolDir = tempDir('spool');
    const repo = await openReceiverRepo({ kind: 'fs', dir: repoDir }, 'conflict');
    closers.push(() => repo.close());
    const receiver = createReceiver({ database: 'conflict', connection: cluster.connection, repository: repo.repository, spoolDir, uploadBackoff: { initialMs: 50, maxMs: 200 } });
    const foreign = Buffer.alloc(1024 * 1024, 0x5a);
    let segment = '';
    try {
      await receiver.start();
      await waitFor('receiver running', () => receiver.status().status === 'running');
      // Someone else archived different bytes under the name of the segment after the current one.
      const [cur] = await cluster.query<{ segment: string }>('SELECT pg_walfile_name(pg_current_wal_insert_lsn()) AS segment');
      segment = cur!.segment.slice(0, 16) + (Number.parseInt(cur!.segment.slice(16), 16) + 1).toString(16).toUpperCase().padStart(8, '0');
      await repo.wal.putSegment(1, segment, foreign);
      for (let i = 0; i < 2; i++) {
        await cluster.query('CREATE TABLE IF NOT EXISTS conflict_probe (v int); INSERT INTO conflict_probe VALUES (1)');
        await cluster.query('SELECT pg_switch_wal()');
      }
      const st = await waitFor('the conflict in status', () => (receiver.status().upload_error?.code === 'WAL_SEGMENT_CONFLICT' ? receiver.status() : null), 30_000);
      expect(st.upload_error!.message).toContain(segment);
      expect(st.upload_backlog.segments).toBeGreaterThanOrEqual(1);
      // Streaming is unaffected; the archived object is untouched; our copy waits in the spool.
      expect(st.status).toBe('running');
      expect((await repo.wal.getSegment(1, segment)).equals(foreign)).toBe(true);
      expect(existsSync(join(spoolDir, segment))).toBe(true);
    } finally {
      await receiver.stop();
    }
    expect(existsSync(join(spoolDir, segment))).toBe(true);
  });
});
