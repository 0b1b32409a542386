/**
 * Base backups and their manifest check, PostgreSQL 13 to 18 (one source per major, majors in
 * turn; BASE_BACKUP's pre-15 protocol on 13 and 14). A backup of a cluster with a tablespace,
 * without PITR (its WAL inside base.tar), is extracted from the repository and checked with
 * pitrd's own pg_verifybackup equivalent (src/restore/verify-manifest.ts): it matches, and a
 * flipped byte, a truncated file, a missing file, an extra file and a damaged manifest are each
 * reported. Where Debian's pg_verifybackup 15 reads the manifest (version 1: 13 to 16) its verdict
 * is the reference for each case. Then the extracted backup is started with its major's binaries
 * and holds the source's tables.
 */
import { appendFileSync, chownSync, readFileSync, renameSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/basebackup/index.js';
import { openRepository, type BackupRecord, type DatabaseRepository } from '../../src/repository/index.js';
import { extractBackup } from '../../src/restore/index.js';
import { verifyAgainstManifest } from '../../src/restore/verify-manifest.js';
import { createObjectStore, streamToBuffer, type ObjectStore } from '../../src/storage/index.js';
import { asPostgres, makeTempDir, PG_BIN, postgresUser, startPostgres, TEST_MAJORS, type PgCluster } from '../harness/index.js';

const TABLE_MD5 = (t: string) => `SELECT md5(coalesce(string_agg(x::text, ',' ORDER BY id), '')) AS h FROM ${t} x`;
const TABLES = ['in_default', 'in_ts'];

async function tableHashes(c: PgCluster): Promise<string[]> {
  const out: string[] = [];
  for (const t of TABLES) out.push(String((await c.query<{ h: string }>(TABLE_MD5(t)))[0]!.h));
  return out;
}

describe.each(TEST_MAJORS)('PostgreSQL %i', (major) => {
  let source: PgCluster;
  let store: ObjectStore;
  let db: DatabaseRepository;
  let rec: BackupRecord;
  let manifest: Buffer;
  const dirs: string[] = [];
  let dataDir = '';
  let tsOid = 0;

  beforeAll(async () => {
    source = await startPostgres({ major, walSegmentSizeMB: 1 });
    const tsDir = makeTempDir(`mf${major}-ts`);
    const repoDir = makeTempDir(`mf${major}-repo`);
    const root = makeTempDir(`mf${major}-restore`);
    dirs.push(tsDir, repoDir, root);
    await source.query(`CREATE TABLESPACE extra LOCATION '${tsDir}'`);
    await source.query('CREATE TABLE in_default (id int PRIMARY KEY, v text)');
    await source.query('INSERT INTO in_default SELECT g, md5(g::text) FROM generate_series(1, 20000) g');
    await source.query('CREATE TABLE in_ts (id int PRIMARY KEY, v text) TABLESPACE extra');
    await source.query('INSERT INTO in_ts SELECT g, repeat(md5(g::text), 3) FROM generate_series(1, 5000) g');
    store = createObjectStore({ type: 'fs', path: repoDir });
    const repo = await openRepository(store, { compression: 'gzip' });
    db = repo.database({ project: 'default', name: `pg${major}` });
    rec = await runBackup({ database: db, store, connection: { ...source.connection }, label: `matrix ${major}` });
    tsOid = Number((await source.query<{ oid: number }>(`SELECT oid FROM pg_tablespace WHERE spcname = 'extra'`))[0]!.oid);
    const mf = rec.files.find((f) => f.name.startsWith('backup_manifest'))!;
    manifest = await streamToBuffer(await db.backups.getData(rec.id, mf.name, { sha256: mf.sha256 }));
    dataDir = join(root, 'data');
    await extractBackup({ db, backup: rec, targetDir: dataDir, tablespaceMap: { [String(tsOid)]: join(root, 'ts') }, ...(postgresUser() ? { owner: postgresUser()! } : {}) });
  }, 180_000);

  afterAll(async () => {
    await store?.close();
    await source?.destroy();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  /** Debian's pg_verifybackup 15 reads manifest version 1 only (17 added version 2). */
  const referenceReads = () => JSON.parse(manifest.toString('utf8'))['PostgreSQL-Backup-Manifest-Version'] === 1;
  /** pg_verifybackup 15 --no-parse-wal on the extracted directory: its error lines, [] when it accepts. */
  async function reference(manifestPath = join(dataDir, 'backup_manifest')): Promise<string[]> {
    const r = await execa(join(PG_BIN, 'pg_verifybackup'), ['--no-parse-wal', '-m', manifestPath, dataDir], asPostgres({ reject: false }));
    return r.exitCode === 0 ? [] : String(r.stderr).split('\n').filter((l) => l.includes('error'));
  }

  it('backs up with this major’s protocol: base and tablespace archives and a manifest of its version', () => {
    expect(rec.status).toBe('completed');
    expect(rec.pg_version).toBe(major);
    expect(rec.files.map((f) => f.name.replace(/\.gz$/, '')).sort()).toEqual([`${tsOid}.tar`, 'backup_manifest', 'base.tar'].sort());
    expect(JSON.parse(manifest.toString('utf8'))['PostgreSQL-Backup-Manifest-Version']).toBe(major >= 17 ? 2 : 1);
  });

  // Each check reads and checksums the whole backup (~23 MB): slow on a loaded machine.
  it('the extracted backup matches its manifest; each kind of damage is reported (as pg_verifybackup 15 does where it reads the manifest)', async () => {
    expect(await verifyAgainstManifest(dataDir, manifest)).toEqual([]);
    if (referenceReads()) expect(await reference()).toEqual([]);

    /** Apply a damage, expect pitrd (and the reference) to report it, undo it. */
    const damaged = async (what: string, expected: RegExp, apply: () => void, undo: () => void) => {
      apply();
      try {
        const problems = await verifyAgainstManifest(dataDir, manifest);
        expect(problems.join('\n'), what).toMatch(expected);
        if (referenceReads()) expect((await reference()).length, `pg_verifybackup 15 on ${what}`).toBeGreaterThan(0);
      } finally {
        undo();
      }
    };
    const pgVersion = join(dataDir, 'PG_VERSION');
    const original = readFileSync(pgVersion);
    const restoreFile = () => {
      writeFileSync(pgVersion, original);
      const u = postgresUser();
      if (u) chownSync(pgVersion, u.uid, u.gid);
    };
    await damaged('a flipped byte', /"PG_VERSION" fails its CRC32C checksum/, () => writeFileSync(pgVersion, Buffer.from(original.map((b, i) => (i === 0 ? b ^ 1 : b)))), restoreFile);
    await damaged('a truncated file', /"PG_VERSION" has size 1, the manifest says/, () => truncateSync(pgVersion, 1), restoreFile);
    await damaged('a missing file', /"PG_VERSION" is in the manifest but not in the restored directory/, () => renameSync(pgVersion, `${pgVersion}.away`), () => renameSync(`${pgVersion}.away`, pgVersion));
    const extra = join(dataDir, 'base', 'stray-file');
    await damaged('an extra file', /"base\/stray-file" is in the restored directory but not in the manifest/, () => writeFileSync(extra, 'x'), () => rmSync(extra));
    // The manifest's own checksum: one character of a file's size changed inside it.
    const bad = Buffer.from(manifest.toString('utf8').replace(/"Size": (\d)/, (_, d: string) => `"Size": ${(Number(d) + 1) % 10}`));
    expect(await verifyAgainstManifest(dataDir, bad)).toEqual(['backup_manifest fails its own Manifest-Checksum']);
    if (referenceReads()) {
      const badPath = join(dirs[2]!, 'bad_manifest');
      writeFileSync(badPath, bad);
      const u = postgresUser();
      if (u) chownSync(badPath, u.uid, u.gid);
      expect((await reference(badPath)).join('\n')).toMatch(/checksum mismatch/);
    }
    // A tablespace file damaged is found through the pg_tblspc link.
    const tsFile = (await execa('find', [join(dirs[2]!, 'ts'), '-type', 'f', '-name', '[0-9]*'])).stdout.split('\n').filter(Boolean).sort()[0]!;
    const size = statSync(tsFile).size;
    appendFileSync(tsFile, 'x');
    try {
      expect((await verifyAgainstManifest(dataDir, manifest)).join('\n')).toMatch(/pg_tblspc\/\d+\/.* has size \d+, the manifest says \d+/);
    } finally {
      truncateSync(tsFile, size);
    }
    // Every damage undone: the directory matches again.
    expect(await verifyAgainstManifest(dataDir, manifest)).toEqual([]);
  }, 300_000);

  it('starts with this major’s binaries and holds the source’s tables', async () => {
    const restored = await startPostgres({ dataDir, major });
    try {
      for (let i = 0; i < 200; i++) {
        const [r] = await restored.query<{ rec: boolean }>('SELECT pg_is_in_recovery() AS rec');
        if (!r!.rec) break;
        await new Promise((res) => setTimeout(res, 100));
      }
      expect(await tableHashes(restored)).toEqual(await tableHashes(source));
      const [v] = await restored.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`);
      expect(Math.floor(Number(v!.v) / 10000)).toBe(major);
    } finally {
      await restored.destroy();
    }
  }, 120_000);
});
