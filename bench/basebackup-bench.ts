/**
 * Base-backup time, pitrd against the reference tools on the same pgbench database in one run
 * (issue #5's targets):
 *   (a) pitrd, no compression, fs repository   vs  `pg_basebackup -Ft` (no compression) to a local directory  — target <= 1.1x
 *       with the default storage.direct_io (auto: direct where the file system takes it, see
 *       src/storage/direct-choice.ts), and also on (pitrd_none_direct) and off (pitrd_none_buffered)
 *   (b) pitrd, gzip level 6, fs repository     vs  pgBackRest compress-type=gz compress-level=6 into a local repo — target <= 1.0x
 * pgBackRest runs with process-max=1 (its default) and, because pitrd compresses on more than
 * one core, also with process-max=2, so the comparison is honest both ways.
 *
 * Usage (as root; PostgreSQL 15 and the Debian package pgbackrest installed):
 *
 *   BENCH_SCALE=130 BENCH_ROUNDS=3 npx tsx bench/basebackup-bench.ts
 *   (BENCH_ONLY=pg_basebackup,pitrd_none runs only those tools, e.g. while iterating)
 *
 * Not run by the tests. Every tool takes the backup without WAL (pg_basebackup -X none,
 * pgBackRest archive-check=n, pitrd in PITR mode with an archive check that is always satisfied),
 * so they move the same bytes, with a fast checkpoint, and every tool syncs what it wrote
 * (each one's default; pitrd's fs driver writes the bulk of a large object with O_DIRECT, the
 * others through the page cache). The disk's own dd
 * figures (buffered+fsync, direct) and the load are printed first and last. A warm-up pass first puts the data in the page cache. Each round runs
 * every tool once, in an order that rotates from round to round; a ratio is taken within a round
 * (tools run minutes apart, not hours) and the report gives the median over the rounds, since
 * the machine is shared and noisy.
 */
import { execa } from 'execa';
import { chownSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runBackup } from '../src/basebackup/index.js';
import { openRepository } from '../src/repository/index.js';
import { createObjectStore, type DirectIoMode } from '../src/storage/index.js';
import { describeDisk } from './lib/disk.js';
import { asPostgres, makeTempDir, PG_BIN, postgresUser, startPostgres } from '../test/harness/index.js';

const scale = Number(process.env.BENCH_SCALE ?? process.env.SCALE ?? 130);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const only = process.env.BENCH_ONLY?.split(',');
const haveBackrest = (await execa('sh', ['-c', 'command -v pgbackrest'], { reject: false })).exitCode === 0;

const cluster = await startPostgres({ settings: { max_wal_size: "'4GB'", checkpoint_timeout: "'30min'" } });
const scratch = makeTempDir('bench');
const secs = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;
const dirBytes = async (d: string) => Number((await execa('du', ['-sb', d])).stdout.split('\t')[0]);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

interface Run {
  seconds: number;
  bytes: number;
  /**
   * Client CPU seconds (user+sys, all threads/processes of the tool): pitrd's own process, or
   * the tool under GNU time. The server's walsender work (pitrd, pg_basebackup) is not in it;
   * pgBackRest reads the files itself, so its figure includes reading them.
   */
  cpu: number;
}
type Tool = 'pg_basebackup' | 'pitrd_none' | 'pitrd_none_direct' | 'pitrd_none_buffered' | 'pitrd_gzip6' | 'pgbackrest_p1' | 'pgbackrest_p2';

try {
  const diskBefore = await describeDisk(scratch);
  console.log(diskBefore);
  console.log(`pgbench -i -s ${scale} ...`);
  await cluster.exec('pgbench', ['-i', '-s', String(scale), '-q', '-h', '127.0.0.1', '-p', String(cluster.port), '-U', 'postgres', 'postgres']);
  await cluster.query('VACUUM ANALYZE');
  await cluster.query('CHECKPOINT');
  const [size] = await cluster.query<{ s: string; b: string }>(`SELECT pg_size_pretty(sum(pg_database_size(oid))) AS s, sum(pg_database_size(oid))::text AS b FROM pg_database`);
  console.log(`cluster size: ${size!.s}`);
  const pgbbArgs = (dir: string) => ['-h', '127.0.0.1', '-p', String(cluster.port), '-U', 'postgres', '-D', dir, '-Ft', '-X', 'none', '-c', 'fast'];

  // pgBackRest: one stanza, a full backup per run (the repo keeps them; nothing expires mid-run).
  const brRepo = join(scratch, 'pgbackrest-repo');
  const brConf = (processMax: number) => join(scratch, `pgbackrest-p${processMax}.conf`);
  if (haveBackrest) {
    await execa('mkdir', ['-p', brRepo, join(scratch, 'pgbackrest-log'), join(scratch, 'pgbackrest-lock')], asPostgres());
    for (const pm of [1, 2]) {
      writeFileSync(brConf(pm), [
        '[global]', `repo1-path=${brRepo}`, 'compress-type=gz', 'compress-level=6', `process-max=${pm}`, 'start-fast=y', 'archive-check=n',
        `log-path=${join(scratch, 'pgbackrest-log')}`, `lock-path=${join(scratch, 'pgbackrest-lock')}`, 'log-level-console=warn', 'log-level-file=off',
        '', '[bench]', `pg1-path=${cluster.dataDir}`, `pg1-port=${cluster.port}`, `pg1-socket-path=${join(cluster.dataDir, '..', 'sock')}`, '',
      ].join('\n'));
      const u = postgresUser();
      if (u) chownSync(brConf(pm), u.uid, u.gid);
    }
    const sc = await execa('pgbackrest', [`--config=${brConf(1)}`, '--stanza=bench', '--no-online', 'stanza-create'], asPostgres({ reject: false }));
    if (sc.exitCode !== 0) console.log(`pgbackrest stanza-create: ${sc.stderr || sc.stdout}`);
  }

  const tools: Record<Tool, (() => Promise<Run>) | null> = {
    pg_basebackup: async () => {
      const dir = join(scratch, 'pgbb');
      const t0 = process.hrtime.bigint();
      const r = await timed(join(PG_BIN, 'pg_basebackup'), pgbbArgs(dir));
      const seconds = secs(t0);
      const bytes = await dirBytes(dir);
      rmSync(dir, { recursive: true, force: true });
      return { seconds, bytes, cpu: r.cpu };
    },
    pitrd_none: () => pitrd('none'),
    pitrd_none_direct: () => pitrd('none', 'on'),
    pitrd_none_buffered: () => pitrd('none', 'off'),
    pitrd_gzip6: () => pitrd('gzip'),
    pgbackrest_p1: haveBackrest ? () => backrest(1) : null,
    pgbackrest_p2: haveBackrest ? () => backrest(2) : null,
  };

  async function pitrd(compression: 'none' | 'gzip', directIo: DirectIoMode = 'auto'): Promise<Run> {
    const repoDir = join(scratch, `pitrd-repo-${compression}`);
    mkdirSync(repoDir, { recursive: true });
    const store = createObjectStore({ type: 'fs', path: repoDir, directIo });
    const repo = await openRepository(store, { compression: compression === 'gzip' ? { algorithm: 'gzip', level: 6 } : 'none' });
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    const rec = await runBackup({ database: repo.database({ project: 'default', name: 'bench' }), store, connection: { ...cluster.connection }, pitr: { isWalArchived: async () => true } });
    const seconds = secs(t0);
    const c = process.cpuUsage(c0);
    await store.close();
    rmSync(repoDir, { recursive: true, force: true });
    return { seconds, bytes: rec.stored_size!, cpu: (c.user + c.system) / 1e6 };
  }

  async function backrest(processMax: number): Promise<Run> {
    const before = await dirBytes(brRepo);
    const t0 = process.hrtime.bigint();
    const br = await timed('pgbackrest', [`--config=${brConf(processMax)}`, '--stanza=bench', '--type=full', 'backup']);
    const seconds = secs(t0);
    return { seconds, bytes: (await dirBytes(brRepo)) - before, cpu: br.cpu };
  }

  /** Run a tool as the postgres OS user under GNU time: its CPU seconds (user+sys, children included). */
  async function timed(bin: string, args: string[]): Promise<{ cpu: number }> {
    const r = await execa('/usr/bin/time', ['-f', 'CPU %U %S', bin, ...args], asPostgres({ reject: false, env: { ...process.env, PGPASSWORD: cluster.connection.password } }));
    const m = /CPU ([\d.]+) ([\d.]+)\s*$/.exec(String(r.stderr));
    if (r.exitCode !== 0 || !m) throw new Error(`${bin} failed: ${r.stderr || r.stdout}`);
    return { cpu: Number(m[1]) + Number(m[2]) };
  }

  const active = (Object.keys(tools) as Tool[]).filter((t) => tools[t] && (!only || only.includes(t)));
  console.log(`tools: ${active.join(', ')}; ${rounds} round(s)`);
  // Warm-up: read everything once (page cache), and let each tool load its code once.
  await tools.pg_basebackup!();

  const results = new Map<Tool, Run[]>(active.map((t) => [t, []]));
  for (let r = 0; r < rounds; r++) {
    const order = active.map((_, i) => active[(i + r) % active.length]!);
    for (const t of order) {
      const run = await tools[t]!();
      results.get(t)!.push(run);
      console.log(`round ${r + 1} ${t.padEnd(14)} ${run.seconds.toFixed(2)} s  ${(run.bytes / 1e6).toFixed(0)} MB  cpu ${run.cpu.toFixed(1)} s`);
    }
  }

  const ratio = (a: Tool, b: Tool, f: (r: Run) => number = (r) => r.seconds) => {
    const ra = results.get(a);
    const rb = results.get(b);
    if (!ra || !rb) return null;
    return median(ra.map((x, i) => f(x) / f(rb[i]!)));
  };
  console.log(`\nscale ${scale} (${size!.s}), ${rounds} round(s), median of per-round figures`);
  console.log('| tool | median wall s | per round wall s | median client CPU s | stored MB |');
  console.log('|---|---|---|---|---|');
  for (const t of active) {
    const rs = results.get(t)!;
    console.log(
      `| ${t} | ${median(rs.map((x) => x.seconds)).toFixed(2)} | ${rs.map((x) => x.seconds.toFixed(1)).join(', ')} | ${median(rs.map((x) => x.cpu)).toFixed(1)} | ${(median(rs.map((x) => x.bytes)) / 1e6).toFixed(0)} |`,
    );
  }
  const show = (label: string, a: Tool, b: Tool, target: number) => {
    const wall = ratio(a, b);
    const cpu = ratio(a, b, (r) => r.cpu);
    if (wall !== null && cpu !== null) console.log(`${label}: wall ${wall.toFixed(2)}x (target <= ${target.toFixed(1)}x), client CPU ${cpu.toFixed(2)}x`);
  };
  console.log('\nratios: median over rounds of the per-round ratio');
  show('(a) pitrd none (default direct_io auto) / pg_basebackup -Ft', 'pitrd_none', 'pg_basebackup', 1.1);
  show('(a) pitrd none, direct_io on / pg_basebackup -Ft', 'pitrd_none_direct', 'pg_basebackup', 1.1);
  show('(a) pitrd none, direct_io off / pg_basebackup -Ft', 'pitrd_none_buffered', 'pg_basebackup', 1.1);
  console.log(diskBefore);
  console.log(await describeDisk(scratch));
  show('(b) pitrd gzip6 / pgBackRest gz6 process-max=1', 'pitrd_gzip6', 'pgbackrest_p1', 1.0);
  show('(b) pitrd gzip6 / pgBackRest gz6 process-max=2', 'pitrd_gzip6', 'pgbackrest_p2', 1.0);
} finally {
  await cluster.destroy();
  rmSync(scratch, { recursive: true, force: true });
}
