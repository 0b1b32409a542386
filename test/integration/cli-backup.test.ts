import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as toYaml } from 'yaml';
import { createObjectStore } from '../../src/storage/index.js';
import { openRepository } from '../../src/repository/index.js';
import { makeTempDir, startPostgres, type PgCluster, cliJson } from '../harness/index.js';

/** `pitrd backup` end to end: the real CLI, a real Postgres, an fs repository. */
const root = join(import.meta.dirname, '..', '..');
let pg: PgCluster;
let dir: string;
let configFile: string;

function pitrd(args: string[]) {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PITRD_')));
  return execa(process.execPath, ['--import', import.meta.resolve('tsx'), join(root, 'src/cli/main.ts'), ...args], {
    cwd: dir, env: base, extendEnv: false, reject: false,
  });
}

beforeAll(async () => {
  pg = await startPostgres({ walSegmentSizeMB: 1 });
  await pg.query('CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 1000) g');
  dir = makeTempDir('cli-backup');
  configFile = join(dir, 'pitrd.yaml');
  writeFileSync(configFile, toYaml({
    storage: { type: 'fs', path: join(dir, 'repo') },
    spool_dir: join(dir, 'spool'),
    databases: [{ name: 'main', connection: { host: pg.connection.host, port: pg.connection.port, user: pg.connection.user, password: pg.connection.password, dbname: 'postgres' }, pitr: { enabled: false } }],
  }));
});

afterAll(async () => {
  await pg?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('pitrd backup', () => {
  it('takes a self-contained base backup of the configured database and commits backup.json', async () => {
    const r = await pitrd(['-c', configFile, 'backup', '--label', 'cli test', '--json']);
    expect(r.stderr).not.toContain(pg.connection.password);
    expect(r.stdout).not.toContain(pg.connection.password);
    expect(r.exitCode, r.stderr).toBe(0);
    const record = cliJson(r.stdout) as { id: string; status: string; label: string; wal_included: boolean; system_identifier: string };
    expect(record.status).toBe('completed');
    expect(record.label).toBe('cli test');
    expect(record.wal_included).toBe(true);
    expect(record.system_identifier).toBe(await pg.systemIdentifier());

    const store = createObjectStore({ type: 'fs', path: join(dir, 'repo') });
    try {
      const repo = await openRepository(store, { compression: { algorithm: 'gzip' } });
      const stored = await repo.database({ project: 'default', name: 'main' }).backups.get(record.id);
      expect(stored?.status).toBe('completed');
    } finally {
      await store.close();
    }
  });

  it('names an unknown database and exits non-zero', async () => {
    const r = await pitrd(['-c', configFile, 'backup', '--database', 'nope']);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain('"nope"');
    expect(r.stderr).toContain('main');
  });
});
