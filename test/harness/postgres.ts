/**
 * Throwaway PostgreSQL clusters (15 unless a major is asked for) for integration tests: initdb on a temp dir, a free port,
 * replication enabled, run as the `postgres` OS user when the tests run as root (postgres
 * refuses root). Every cluster is stopped and its directory removed on teardown, and, as a
 * last resort, when the test process exits.
 */
import { execa, type Options as ExecaOptions } from 'execa';
import { mkdtempSync, writeFileSync, readFileSync, appendFileSync, rmSync, chownSync, existsSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { PG_BIN, pgBinDir, type TestMajor } from './pg-bins.js';
import { freePort } from './ports.js';

export { PG_BIN };

export interface PgConnection {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

export interface StartPostgresOptions {
  /** Extra postgresql.conf settings, e.g. { wal_level: 'minimal' }. */
  settings?: Record<string, string | number>;
  /** initdb --wal-segsize in MB (power of two, 1..1024). Default 16. */
  walSegmentSizeMB?: number;
  /** Password of the `postgres` superuser over TCP (scram-sha-256). */
  password?: string;
  /** Extra pg_hba.conf lines, inserted before the defaults. */
  hba?: string[];
  /** Skip initdb: use this existing data directory (e.g. a restored one). */
  dataDir?: string;
  /** PostgreSQL major version (test/harness/pg-bins.ts). Default 15. */
  major?: TestMajor;
}

export interface PgCluster {
  /** Major version of the server binaries. */
  major: TestMajor;
  /** Directory of its initdb, pg_ctl and postgres. */
  binDir: string;
  dataDir: string;
  /** The server's log (pg_ctl -l). */
  logFile: string;
  port: number;
  connection: PgConnection;
  /** postgresql://… for the superuser. */
  connectionString: string;
  systemIdentifier(): Promise<string>;
  /** Run SQL as the superuser on a fresh short connection; returns rows. */
  query<T extends Record<string, unknown> = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Run a PostgreSQL binary (pgbench, pg_receivewal, …) as the postgres OS user: the major's own, else Debian's 15. */
  exec(bin: string, args: string[], opts?: ExecaOptions): ReturnType<typeof execa>;
  start(): Promise<void>;
  stop(mode?: 'fast' | 'immediate' | 'smart'): Promise<void>;
  restart(): Promise<void>;
  /** SIGKILL the postmaster by PID (a crash). */
  kill(): Promise<void>;
  isRunning(): boolean;
  /** Stop and remove every file. Idempotent. */
  destroy(): Promise<void>;
}

const live = new Map<string, { pidFile: string; dirs: string[] }>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const { pidFile, dirs } of live.values()) {
      const pid = readPid(pidFile);
      if (pid !== null) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    }
  });
}

function readPid(pidFile: string): number | null {
  try {
    const first = readFileSync(pidFile, 'utf8').split('\n')[0];
    const pid = Number(first);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** uid/gid of the postgres OS user when we are root; undefined otherwise. */
export function postgresUser(): { uid: number; gid: number } | undefined {
  if (!isRoot) return undefined;
  const passwd = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  if (!passwd) throw new Error('running as root but there is no postgres OS user to run PostgreSQL as');
  const f = passwd.split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

/** Make a temp directory the postgres OS user can write. */
export function makeTempDir(tag: string): string {
  const dir = mkdtempSync(join(tmpdir(), `pitrd-${tag}-`));
  const u = postgresUser();
  if (u) chownSync(dir, u.uid, u.gid);
  chmodSync(dir, 0o700);
  return dir;
}

/** Options that run a child process as the postgres OS user (when root). */
export function asPostgres(extra: ExecaOptions = {}): ExecaOptions {
  const u = postgresUser();
  const base: ExecaOptions = { env: { ...process.env, LC_ALL: 'C.UTF-8', PGTZ: 'UTC' }, ...extra };
  if (!u) return base;
  return { ...base, uid: u.uid, gid: u.gid, env: { ...base.env, HOME: '/tmp', USER: 'postgres' } };
}

export async function startPostgres(opts: StartPostgresOptions = {}): Promise<PgCluster> {
  installExitHook();
  const password = opts.password ?? 'pitrd-test-pw';
  const root = makeTempDir('pg');
  const dataDir = opts.dataDir ?? join(root, 'data');
  const socketDir = join(root, 'sock');
  const logFile = join(root, 'postgres.log');
  const port = await freePort();
  const u = postgresUser();
  const major = opts.major ?? 15;
  const binDir = pgBinDir(major);

  const mk = async (d: string) => {
    await execa('mkdir', ['-p', d], asPostgres());
  };
  await mk(socketDir);

  if (!opts.dataDir) {
    const pwFile = join(root, 'pw');
    writeFileSync(pwFile, password + '\n', { mode: 0o600 });
    if (u) chownSync(pwFile, u.uid, u.gid);
    const initArgs = [
      '-D', dataDir, '-U', 'postgres', '--pwfile', pwFile, '--auth-local=trust', '--auth-host=scram-sha-256',
      '--no-sync', '-E', 'UTF8', '--locale=C.UTF-8',
    ];
    if (opts.walSegmentSizeMB) initArgs.push(`--wal-segsize=${opts.walSegmentSizeMB}`);
    await execa(join(binDir, 'initdb'), initArgs, asPostgres());
    rmSync(pwFile, { force: true });
    if (opts.hba?.length) {
      const hbaPath = join(dataDir, 'pg_hba.conf');
      const existing = readFileSync(hbaPath, 'utf8');
      writeFileSync(hbaPath, opts.hba.join('\n') + '\n' + existing);
    }
  }

  const settings: Record<string, string | number> = {
    listen_addresses: "'127.0.0.1'",
    port,
    unix_socket_directories: `'${socketDir}'`,
    wal_level: 'replica',
    max_wal_senders: 10,
    max_replication_slots: 10,
    shared_buffers: "'32MB'",
    fsync: 'off', // the server's own durability is not what tests exercise; pitrd's fsyncs are
    full_page_writes: 'on',
    log_min_messages: 'warning',
    timezone: "'UTC'",
    log_timezone: "'UTC'",
    ...opts.settings,
  };
  const conf = Object.entries(settings).map(([k, v]) => `${k} = ${v}`).join('\n');
  // Appended last so these win over anything a restored directory's config says.
  appendFileSync(join(dataDir, 'postgresql.conf'), `\n# pitrd test harness\n${conf}\n`);

  const pidFile = join(dataDir, 'postmaster.pid');
  live.set(root, { pidFile, dirs: [root] });

  const connection: PgConnection = { host: '127.0.0.1', port, user: 'postgres', password, database: 'postgres' };
  const pgCtl = (args: string[]) => execa(join(binDir, 'pg_ctl'), ['-D', dataDir, ...args], asPostgres());

  let destroyed = false;
  const cluster: PgCluster = {
    major,
    binDir,
    dataDir,
    logFile,
    port,
    connection,
    connectionString: `postgresql://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    async systemIdentifier() {
      const rows = await cluster.query<{ system_identifier: string }>('SELECT system_identifier::text FROM pg_control_system()');
      return rows[0]!.system_identifier;
    },
    async query(sql, params) {
      const client = new pg.Client({ ...connection });
      await client.connect();
      try {
        const res = await client.query(sql, params as unknown[] | undefined);
        return res.rows;
      } finally {
        await client.end();
      }
    },
    exec(bin, args, execOpts = {}) {
      return execa(join(existsSync(join(binDir, bin)) ? binDir : PG_BIN, bin), args, asPostgres({ ...execOpts, env: { ...process.env, PGPASSWORD: password, ...(execOpts.env ?? {}) } }));
    },
    async start() {
      await pgCtl(['-l', logFile, '-w', '-t', '60', 'start']);
    },
    async stop(mode = 'fast') {
      if (!cluster.isRunning()) return;
      await pgCtl(['-m', mode, '-w', '-t', '60', 'stop']);
    },
    async restart() {
      await cluster.stop('fast');
      await cluster.start();
    },
    async kill() {
      const pid = readPid(pidFile);
      if (pid === null) return;
      process.kill(pid, 'SIGKILL');
      // Wait until the postmaster is really gone, so a following start() does not race it.
      for (let i = 0; i < 200; i++) {
        try {
          process.kill(pid, 0);
        } catch {
          break;
        }
        await new Promise((r) => setTimeout(r, 25));
      }
      rmSync(pidFile, { force: true });
    },
    isRunning() {
      const pid = readPid(pidFile);
      if (pid === null) return false;
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    },
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      try {
        await cluster.stop('immediate');
      } catch {
        await cluster.kill().catch(() => undefined);
      }
      live.delete(root);
      rmSync(root, { recursive: true, force: true });
    },
  };

  try {
    await cluster.start();
  } catch (err) {
    const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-2000) : '';
    await cluster.destroy();
    throw new Error(`postgres failed to start on port ${port}: ${(err as Error).message}\n${log}`);
  }
  return cluster;
}
