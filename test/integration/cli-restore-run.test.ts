/**
 * `pitrd restore --run` through the real CLI on the demo's repository: the promoted server is left
 * running with its socket and log in its data directory, and nothing of the restore's temporary
 * work directory is left behind (TMPDIR points at an empty directory the test then lists).
 * `--run --action pause` is refused before anything is written: a paused server replays further
 * through pitrd, which exits with the command.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { pgStop } from '../../src/postgres/cluster/index.js';
import { cliJson } from '../harness/index.js';
import { demoRepository, pitrd, removeTree, type DemoRepo } from './cli-fixture.js';

let demo: DemoRepo;
const target = () => join(demo.root, 'run-restore');

beforeAll(async () => {
  demo = await demoRepository();
}, 180_000);

afterAll(async () => {
  if (!demo) return;
  await pgStop(target()).catch(() => undefined);
  removeTree(demo.root);
}, 60_000);

it('restore --run leaves the promoted server running and no temporary directory behind', async () => {
  const tmp = join(demo.root, 'tmp');
  mkdirSync(tmp);
  chmodSync(tmp, 0o777);
  const r = await pitrd(['-c', demo.config, 'restore', '--to-time', demo.summary.target_time, '--target-dir', target(), '--run', '--json'], { env: { TMPDIR: tmp } });
  expect(r.exitCode, r.stderr).toBe(0);
  const out = cliJson<{ connection_string: string; data_dir: string }>(r.stdout);
  expect(out.connection_string).toMatch(/^postgresql:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
  // Nothing of the work directory is left (staged WAL, restore_command script, socket, log);
  // tsx, which runs the CLI from the sources, keeps its own cache there.
  expect(readdirSync(tmp).filter((f) => !f.startsWith('tsx-'))).toEqual([]);
  // The running server's log and socket live in its data directory; it answers, promoted.
  expect(existsSync(join(target(), 'postgres.log'))).toBe(true);
  const port = Number(new URL(out.connection_string).port);
  const c = new pg.Client({ host: target(), port, user: 'postgres', database: 'postgres' });
  await c.connect();
  try {
    expect((await c.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')).rows[0]!.r).toBe(false);
  } finally {
    await c.end();
  }
}, 240_000);

it('--run --action pause is refused before anything is written', async () => {
  const dir = join(demo.root, 'paused-restore');
  const r = await pitrd(['-c', demo.config, 'restore', '--to-time', demo.summary.target_time, '--target-dir', dir, '--run', '--action', 'pause', '--json']);
  expect(r.exitCode).toBe(2);
  expect(r.stderr).toMatch(/^pitrd: VALIDATION_ERROR: --run with --action pause/m);
  expect(existsSync(dir)).toBe(false);
}, 120_000);
