/**
 * Torture: `pitrd serve` under a long pgbench run, killed with SIGKILL N times (half at random
 * moments, half aimed at a segment completion in flight: the moment the spool holds two `.partial`
 * files, i.e. a full segment is being fsync'd and renamed while the next one is written), and
 * PostgreSQL restarted once half way. At the end the archive is compared with `pg_receivewal`
 * running on its own slot the whole time: holes (missing segments), differing segments.
 * The target is 0 and 0. Not a test: it runs for minutes.
 *
 *   npx tsx bench/crash-torture-bench.ts [--kills 50] [--seg-mb 16] [--clients 4]
 *
 * Printed: kills (random / aimed, and how many aimed ones caught two partials), segments compared,
 * holes, differing, and whether the daemon ever reported lost WAL.
 */
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { stringify as toYaml } from 'yaml';
import { FileTokenStore } from '../src/auth/index.js';
import { openRepository } from '../src/repository/index.js';
import { createObjectStore } from '../src/storage/index.js';
import { parseSegmentName } from '../src/wal/segment.js';
import { freePort, makeTempDir, startPostgres } from '../test/harness/index.js';
import { startPgReceivewal, switchWal } from '../test/harness/receiver.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

const kills = arg('kills', 50);
const segMb = arg('seg-mb', 16);
const clients = arg('clients', 4);
const segSize = segMb * 1024 * 1024;
const root = join(import.meta.dirname, '..');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, f: () => Promise<T | null | undefined | false> | T | null | undefined | false, ms = 180_000, every = 100): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      const v = await f();
      if (v) return v;
    } catch {
      /* not yet */
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(every);
  }
}

/**
 * Wait for `f` as long as `progress()` keeps changing; fail after `stallMs` without a change. A
 * fixed deadline here timed out on a loaded machine while the daemon was still catching up.
 */
async function whileProgressing(what: string, f: () => Promise<unknown> | unknown, progress: () => Promise<unknown> | unknown, stallMs = 180_000): Promise<void> {
  let seen = JSON.stringify(await progress());
  let movedAt = Date.now();
  for (;;) {
    if (await Promise.resolve(f()).catch(() => false)) return;
    const p = JSON.stringify(await Promise.resolve(progress()).catch(() => null));
    if (p !== seen) {
      seen = p;
      movedAt = Date.now();
    } else if (Date.now() - movedAt > stallMs) {
      throw new Error(`no progress for ${stallMs / 1000} s waiting for ${what} (last: ${p})`);
    }
    await sleep(500);
  }
}

const pg = await startPostgres({ walSegmentSizeMB: segMb });
const dir = makeTempDir('torture');
const spool = join(dir, 'spool', 'bench', 'main');
let daemon: ResultPromise | null = null;
let load: ResultPromise | null = null;
const ref = await startPgReceivewal(pg, 'reference');
try {
  const token = (await new FileTokenStore(join(dir, 'tokens.json')).create({ name: 'bench', projects: ['*'], tier: 'pro' })).token;
  const port = await freePort();
  writeFileSync(join(dir, 'pg.pass'), `${pg.connection.password}\n`, { mode: 0o600 });
  writeFileSync(
    join(dir, 'pitrd.yaml'),
    toYaml({
      storage: { type: 'fs', path: 'repo' },
      spool_dir: 'spool',
      api: { listen: { host: '127.0.0.1', port }, tokens_file: 'tokens.json' },
      databases: [{ name: 'main', project: 'bench', backup: { schedule: '0 3 1 1 *' }, connection: { host: '127.0.0.1', port: pg.port, user: 'postgres', password_file: 'pg.pass', dbname: 'postgres', sslmode: 'disable' } }],
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  const status = async () =>
    ((await (await fetch(`${url}/projects/bench/databases/main/pitr/receiver-status`, { headers: { authorization: `Bearer ${token}` } })).json()) as { data?: { status: string; gap: unknown } }).data;
  const lost: unknown[] = [];
  const startDaemon = async () => {
    daemon = execa(process.execPath, ['--import', import.meta.resolve('tsx'), join(root, 'src/cli/main.ts'), 'serve', '-c', join(dir, 'pitrd.yaml')], { cwd: dir, reject: false, env: { PITRD_LOG_LEVEL: 'warn' }, stdout: ['pipe', { file: join(dir, 'daemon.log'), append: true }], stderr: ['pipe', { file: join(dir, 'daemon.log'), append: true }] } as never);
    const st = await until('receiver streaming', async () => ((await status())?.status === 'running' ? await status() : null)).catch((err: unknown) => {
      console.log(readFileSync(join(dir, 'daemon.log'), 'utf8').slice(-3000));
      throw err;
    });
    if (st?.gap) lost.push(st.gap);
  };
  const killDaemon = async () => {
    const d = daemon!;
    d.kill('SIGKILL');
    await d;
  };
  const startLoad = () => {
    load = pg.exec('pgbench', ['-h', '127.0.0.1', '-p', String(pg.port), '-U', 'postgres', '-T', '36000', '-c', String(clients), 'postgres'], { reject: false });
  };

  await pg.exec('pgbench', ['-h', '127.0.0.1', '-p', String(pg.port), '-U', 'postgres', '-i', '-s', '10', '-q', 'postgres']);
  await startDaemon();
  startLoad();
  const t0 = Date.now();
  let random = 0;
  let aimed = 0;
  let aimedHit = 0;
  let pgRestarts = 0;
  const partials = () => (existsSync(spool) ? readdirSync(spool).filter((f) => f.endsWith('.partial')).length : 0);
  for (let i = 0; i < kills; i++) {
    if (i === Math.floor(kills / 2)) {
      // PostgreSQL restart half way: pgbench's connections end; start it again.
      load!.kill('SIGINT');
      await load;
      await pg.restart();
      pgRestarts++;
      startLoad();
      await until('receiver streaming again', async () => (await status())?.status === 'running');
    }
    if (i % 2 === 0) {
      await sleep(300 + Math.random() * 4000);
      random++;
    } else {
      // Aimed: poll the spool until a segment completion is in flight (two partials), up to 60 s.
      aimed++;
      const end = Date.now() + 60_000;
      while (Date.now() < end && partials() < 2) await new Promise((r) => setImmediate(r));
      if (partials() >= 2) aimedHit++;
    }
    await killDaemon();
    await startDaemon();
    process.stdout.write(`kill ${i + 1}/${kills} (${i % 2 === 0 ? 'random' : 'aimed'}), ${Math.round((Date.now() - t0) / 1000)} s\n`);
  }
  load!.kill('SIGINT');
  await load;
  const { segment } = await switchWal(pg);
  const store = createObjectStore({ type: 'fs', path: join(dir, 'repo') });
  const repo = await openRepository(store, { compression: 'gzip' }); // (reading: each object says its own compression)
  const wal = repo.database({ project: 'bench', name: 'main' }).wal;
  // The last daemon catches up what the server kept for it while it was down (a backlog that grows
  // on a loaded machine): waited for while it makes progress, not against a fixed deadline.
  const tCatchUp = Date.now();
  await whileProgressing(`archive to hold ${segment}`, () => wal.hasSegment(1, segment), async () => `${(await wal.lastSegment())?.name ?? '-'} ${partials()} ${existsSync(spool) ? readdirSync(spool).length : 0}`);
  const catchUpS = Math.round((Date.now() - tCatchUp) / 1000);
  await whileProgressing(`pg_receivewal to hold ${segment}`, () => ref.segments().includes(segment), () => ref.segments().length);
  const final = await status();
  if (final?.gap) lost.push(final.gap);

  const names: string[] = [];
  for await (const s of wal.listSegments(1)) names.push(s.name);
  names.sort();
  let holes = 0;
  for (let i = 1; i < names.length; i++) {
    const missing = parseSegmentName(names[i]!, segSize).segno - parseSegmentName(names[i - 1]!, segSize).segno - 1n;
    if (missing > 0n) {
      holes += Number(missing);
      console.log(`hole: ${missing} segment(s) between ${names[i - 1]} and ${names[i]}`);
    }
  }
  let compared = 0;
  let differing = 0;
  for (const name of names) {
    const refPath = join(ref.dir, name);
    if (!existsSync(refPath)) continue;
    compared++;
    if (!(await wal.getSegment(1, name)).equals(readFileSync(refPath))) {
      differing++;
      console.log(`differs: ${name}`);
    }
  }
  await store.close();
  await killDaemon();
  console.log(
    `crash-torture: ${kills} kill -9 of pitrd serve (${random} random, ${aimed} aimed at a segment completion, ${aimedHit} of them with two partials in the spool), ${pgRestarts} PostgreSQL restart, ${Math.round((Date.now() - t0) / 1000)} s, ${segMb} MiB segments, pgbench -c ${clients}`,
  );
  console.log(`segments archived ${names.length}, compared with pg_receivewal ${compared}, holes ${holes}, differing ${differing}, lost WAL reported ${lost.length}`);
  console.log(`final catch-up ${catchUpS} s; ${new Date().toISOString()}; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} (${cpus().length} cores)`);
  process.exitCode = holes === 0 && differing === 0 && lost.length === 0 && compared > 0 ? 0 : 1;
} finally {
  if (load) (load as ResultPromise).kill('SIGKILL');
  if (daemon) (daemon as ResultPromise).kill('SIGKILL');
  await ref.stop().catch(() => undefined);
  await pg.destroy();
  rmSync(dir, { recursive: true, force: true });
}
