/**
 * The repository outlives pitrd: a base backup restored with nothing but `pitrd repo get` (which
 * decrypts, decompresses and verifies), `tar`, `cp` as restore_command and PostgreSQL itself.
 * The repository is the one `pitrd demo --keep` made: three steps of rows, all archived.
 */
import { appendFileSync, chmodSync, chownSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliJson, makeTempDir, postgresUser, startPostgres, type PgCluster } from '../harness/index.js';
import { waitFor } from '../harness/receiver.js';
import { demoRepository, pitrd, removeTree, type DemoRepo } from './cli-fixture.js';

let demo: DemoRepo;
let restored: PgCluster | undefined;

beforeAll(async () => {
  demo = await demoRepository();
}, 180_000);

afterAll(async () => {
  await restored?.destroy();
  if (demo) removeTree(demo.root);
}, 60_000);

const ls = async (prefix: string) => cliJson<{ objects: Array<{ key: string }> }>((await pitrd(['-c', demo.config, 'repo', 'ls', prefix, '--json'])).stdout).objects.map((o) => o.key);

async function get(key: string, output: string): Promise<void> {
  const r = await pitrd(['-c', demo.config, 'repo', 'get', key, '--output', output]);
  expect(r.exitCode, r.stderr).toBe(0);
}

describe('pitrd repo get', () => {
  it('restores a base backup with only repo get, tar and PostgreSQL', async () => {
    const db = 'projects/default/databases/demo/';
    const backupKeys = await ls(`${db}backups/${demo.summary.backup.id}/`);
    const base = backupKeys.find((k) => /\/base\.tar(\.gz)?$/.test(k));
    expect(base, backupKeys.join(', ')).toBeDefined();

    const dir = makeTempDir('repo-get');
    const data = join(dir, 'data');
    const wal = join(dir, 'wal');
    mkdirSync(data, { mode: 0o700 });
    mkdirSync(wal);
    await get(base!, join(dir, 'base.tar'));
    await execa('tar', ['-xf', join(dir, 'base.tar'), '-C', data]);
    // Every archived segment (not the markers, not the history files) into a plain directory.
    const segments = (await ls(`${db}wal/`)).filter((k) => /\/[0-9A-F]{24}(\.gz)?$/.test(k));
    expect(segments.length).toBeGreaterThan(0);
    for (const key of segments) await get(key, join(wal, /([0-9A-F]{24})(\.gz)?$/.exec(key)![1]!));

    const u = postgresUser();
    if (u) for (const d of [dir, data, wal]) chownSync(d, u.uid, u.gid);
    if (u) await execa('chown', ['-R', `${u.uid}:${u.gid}`, data, wal]);
    chmodSync(data, 0o700);
    writeFileSync(join(data, 'recovery.signal'), '');
    // The demo's own superuser password is not the harness's: let the test in by address.
    const hba = join(data, 'pg_hba.conf');
    writeFileSync(hba, `host all all 127.0.0.1/32 trust\n${readFileSync(hba, 'utf8')}`);
    appendFileSync(join(data, 'postgresql.auto.conf'), `\nrestore_command = 'cp ${wal}/%f %p'\nrecovery_target_action = 'promote'\n`);
    restored = await startPostgres({ dataDir: data });
    await waitFor('promotion', async () => ((await restored!.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r'))[0]?.r === false ? true : null), 60_000);
    const rows = await restored.query<{ step: number; n: string }>('SELECT step, count(*)::text AS n FROM demo_rows GROUP BY step ORDER BY step');
    // Every step the demo committed was archived: replaying all of it brings all three back.
    expect(rows).toEqual([1, 2, 3].map((step) => ({ step, n: '20' })));
  }, 300_000);

  it('names a key that is not in the repository (exit 1) and writes nothing', async () => {
    const out = join(demo.root, 'nothing');
    const r = await pitrd(['-c', demo.config, 'repo', 'get', 'projects/default/databases/demo/nope', '--output', out]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/^pitrd: OBJECT_NOT_FOUND: /m);
  });
});
