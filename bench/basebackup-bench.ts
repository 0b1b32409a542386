/**
 * Base-backup throughput: pitrd vs `pg_basebackup -Ft` to a local directory (uncompressed) vs
 * pgBackRest (gz level 6, process-max 1), on a pgbench database (scale 130 ≈ 2 GB).
 * Not run by the tests. Usage (as root, PostgreSQL 15 and pgbackrest installed):
 *
 *   SCALE=130 npx tsx bench/basebackup-bench.ts
 *
 * All three take the backup without WAL (pg_basebackup -X none, pgBackRest archive-check=n,
 * pitrd in PITR mode with an archive check that is always satisfied), so they move the same
 * bytes. pitrd and pgBackRest compress with gzip level 6 into a local repository; pg_basebackup
 * writes plain tar. Each tool runs once after a warm-up pass, so the data is in the page cache.
 */
import { execa } from 'execa';
import { rmSync, writeFileSync, chownSync } from 'node:fs';
import { join } from 'node:path';
import { runBackup } from '../src/basebackup/index.js';
import { openRepository } from '../src/repository/index.js';
import { createObjectStore } from '../src/storage/index.js';
import { asPostgres, makeTempDir, PG_BIN, postgresUser, startPostgres } from '../test/harness/index.js';

const scale = Number(process.env.SCALE ?? 130);
const haveBackrest = (await execa('sh', ['-c', 'command -v pgbackrest'], { reject: false })).exitCode === 0;

const cluster = await startPostgres({ settings: { max_wal_size: "'4GB'", checkpoint_timeout: "'30min'" } });
const scratch = makeTempDir('bench');
const secs = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;
const dirBytes = async (d: string) => Number((await execa('du', ['-sb', d])).stdout.split('\t')[0]);
try {
  console.log(`pgbench -i -s ${scale} ...`);
  await cluster.exec('pgbench', ['-i', '-s', String(scale), '-q', '-h', '127.0.0.1', '-p', String(cluster.port), '-U', 'postgres', 'postgres']);
  await cluster.query('CHECKPOINT');
  const [size] = await cluster.query<{ s: string }>(`SELECT pg_size_pretty(sum(pg_database_size(oid))) AS s FROM pg_database`);
  console.log(`cluster size: ${size!.s}`);
  const pgbbArgs = (dir: string) => ['-h', '127.0.0.1', '-p', String(cluster.port), '-U', 'postgres', '-D', dir, '-Ft', '-X', 'none', '-c', 'fast', '--no-sync'];

  // Warm-up: read everything once.
  await cluster.exec('pg_basebackup', pgbbArgs(join(scratch, 'warm')));
  rmSync(join(scratch, 'warm'), { recursive: true, force: true });

  let t0 = process.hrtime.bigint();
  await cluster.exec('pg_basebackup', pgbbArgs(join(scratch, 'pgbb')));
  const tPgbb = secs(t0);
  const pgbbSize = await dirBytes(join(scratch, 'pgbb'));
  rmSync(join(scratch, 'pgbb'), { recursive: true, force: true });

  const repoDir = join(scratch, 'pitrd-repo');
  const store = createObjectStore({ type: 'fs', path: repoDir });
  const repo = await openRepository(store, { compression: { algorithm: 'gzip', level: 6 } });
  t0 = process.hrtime.bigint();
  const rec = await runBackup({ database: repo.database('bench'), store, connection: { ...cluster.connection }, pitr: { isWalArchived: async () => true } });
  const tPitrd = secs(t0);
  await store.close();

  let tBackrest: number | null = null;
  let backrestSize: number | null = null;
  if (haveBackrest) {
    const brRepo = join(scratch, 'pgbackrest-repo');
    await execa('mkdir', ['-p', brRepo, join(scratch, 'pgbackrest-log'), join(scratch, 'pgbackrest-lock')], asPostgres());
    const conf = join(scratch, 'pgbackrest.conf');
    writeFileSync(conf, [
      '[global]', `repo1-path=${brRepo}`, 'compress-type=gz', 'compress-level=6', 'process-max=1', 'start-fast=y', 'archive-check=n',
      `log-path=${join(scratch, 'pgbackrest-log')}`, `lock-path=${join(scratch, 'pgbackrest-lock')}`, 'log-level-console=warn',
      '', '[bench]', `pg1-path=${cluster.dataDir}`, `pg1-port=${cluster.port}`, `pg1-socket-path=${join(cluster.dataDir, '..', 'sock')}`, '',
    ].join('\n'));
    const u = postgresUser();
    if (u) chownSync(conf, u.uid, u.gid);
    await execa('pgbackrest', [`--config=${conf}`, '--stanza=bench', '--no-online', 'stanza-create'], asPostgres({ reject: false }));
    t0 = process.hrtime.bigint();
    const br = await execa('pgbackrest', [`--config=${conf}`, '--stanza=bench', '--type=full', 'backup'], asPostgres({ reject: false }));
    tBackrest = secs(t0);
    if (br.exitCode !== 0) {
      console.log(`pgbackrest failed: ${br.stderr || br.stdout}`);
      tBackrest = null;
    } else {
      backrestSize = await dirBytes(brRepo);
    }
  }

  const mb = (n: number) => `${(n / 1e6).toFixed(0)} MB`;
  console.log(`\npg_basebackup -Ft (plain tar, local dir): ${tPgbb.toFixed(1)} s, ${mb(pgbbSize)}`);
  console.log(`pitrd (gzip 6, fs repo):                  ${tPitrd.toFixed(1)} s, ${mb(rec.original_size!)} -> ${mb(rec.stored_size!)}  (${(tPitrd / tPgbb).toFixed(2)}x pg_basebackup)`);
  if (tBackrest !== null) {
    console.log(`pgBackRest (gz 6, process-max 1):         ${tBackrest.toFixed(1)} s, repo ${mb(backrestSize!)}  (pitrd/pgBackRest = ${(tPitrd / tBackrest).toFixed(2)}x)`);
  } else {
    console.log('pgBackRest: not measured');
  }
} finally {
  await cluster.destroy();
  rmSync(scratch, { recursive: true, force: true });
  void PG_BIN;
}
