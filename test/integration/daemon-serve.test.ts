/**
 * `pitrd serve` as a real child process (the CLI entry through tsx): a database from the config
 * file streams WAL; SIGTERM by PID shuts it down gracefully with exit code 0 after the receiver
 * flushed and reported its position to the server (the slot advanced).
 */
import { execa, type ResultPromise } from 'execa';
import { writeFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify as toYaml } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FileTokenStore } from '../../src/auth/index.js';
import { parseLsn } from '../../src/wal/index.js';
import { freePort, makeTempDir, startPostgres, type PgCluster } from '../harness/index.js';
import { waitFor } from './daemon-fixture.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const PASSWORD = 'Serve-Child-pw-77x';
let pg: PgCluster;
let dir: string;
let child: ResultPromise | null = null;

beforeAll(async () => {
  pg = await startPostgres({ walSegmentSizeMB: 1, password: PASSWORD });
  dir = makeTempDir('pitrd-serve');
}, 60_000);

afterAll(async () => {
  try {
    if (child?.pid !== undefined && child.exitCode === null) {
      process.kill(child.pid, 'SIGKILL');
      await child.catch(() => undefined);
    }
    await pg?.destroy();
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);

it('pitrd serve streams a configured database and exits 0 on SIGTERM after flushing', async () => {
  const tokensFile = join(dir, 'tokens.json');
  const token = (await new FileTokenStore(tokensFile).create({ name: 'ops', projects: ['*'], tier: 'pro' })).token;
  const port = await freePort();
  writeFileSync(join(dir, 'pg.pass'), `${PASSWORD}\n`, { mode: 0o600 });
  writeFileSync(
    join(dir, 'pitrd.yaml'),
    toYaml({
      storage: { type: 'fs', path: 'repo' },
      spool_dir: 'spool',
      api: { listen: { host: '127.0.0.1', port }, tokens_file: 'tokens.json' },
      databases: [{ name: 'orders', project: 'shop', connection: { host: '127.0.0.1', port: pg.port, user: 'postgres', password_file: 'pg.pass', dbname: 'postgres', sslmode: 'disable' } }],
    }),
  );
  let stdout = '';
  child = execa(process.execPath, ['--import', import.meta.resolve('tsx'), join(root, 'src/cli/main.ts'), 'serve', '-c', join(dir, 'pitrd.yaml')], {
    cwd: dir,
    reject: false,
    env: { PITRD_LOG_LEVEL: 'debug' },
  });
  child.stdout?.on('data', (b: Buffer) => (stdout += b.toString('utf8')));
  await waitFor('API listening', () => stdout.includes('pitrd API listening'), 60_000);

  const api = async (path: string) => {
    const r = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { authorization: `Bearer ${token}` } });
    return (await r.json()) as { success: boolean; data: any; error?: { code: string } };
  };
  const db = await api('/projects/shop/databases/orders');
  expect(db.data).toMatchObject({ name: 'orders', source: 'config', pitr_enabled: true });
  await waitFor('receiver running', async () => (await api('/projects/shop/databases/orders/pitr/receiver-status')).data?.status === 'running');

  await pg.query('CREATE TABLE t (v text)');
  for (let i = 0; i < 3; i++) {
    await pg.query("INSERT INTO t SELECT repeat('y', 200) FROM generate_series(1, 300)");
    await pg.query('SELECT pg_switch_wal()');
  }
  // Some WAL after the last switch: the partial segment must be flushed too.
  await pg.query("INSERT INTO t VALUES ('tail')");
  const target = parseLsn((await pg.query<{ lsn: string }>('SELECT pg_current_wal_flush_lsn()::text AS lsn'))[0]!.lsn);
  await waitFor('WAL received up to the target', async () => {
    const s = (await api('/projects/shop/databases/orders/pitr/receiver-status')).data;
    return s.segments_archived >= 3 && s.last_received_lsn !== null && parseLsn(s.last_received_lsn) >= target;
  });

  process.kill(child.pid!, 'SIGTERM');
  const result = await child;
  expect(result.exitCode).toBe(0);
  expect(result.signal).toBeUndefined();

  const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const stopped = lines.find((l) => l.msg === 'receiver stopped');
  expect(stopped).toBeDefined();
  expect(parseLsn(String(stopped!.last_flushed_lsn))).toBeGreaterThanOrEqual(target);
  expect(lines.some((l) => l.msg === 'stopped')).toBe(true);
  // The flush position reached the server: the slot's restart_lsn moved past the switched segments.
  const slot = (await pg.query<{ active: boolean; restart_lsn: string }>("SELECT active, restart_lsn::text AS restart_lsn FROM pg_replication_slots WHERE slot_name = 'pitrd_orders'"))[0]!;
  expect(slot.active).toBe(false);
  expect(parseLsn(slot.restart_lsn)).toBeGreaterThanOrEqual(target);
  expect(stdout).not.toContain(PASSWORD);
}, 120_000);
