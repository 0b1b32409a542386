import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pg from 'pg';
import { createApiLogger } from '../../src/api/index.js';
import { FileTokenStore } from '../../src/auth/index.js';
import { parseConfig, type Config } from '../../src/config/index.js';
import { startDaemon, type Daemon, type StartDaemonOptions } from '../../src/daemon.js';
import { freePort, makeTempDir } from '../harness/index.js';

export { waitFor } from '../harness/receiver.js';

/** A daemon started in-process on a temp fs repository; every response body and log line kept. */
export interface DaemonFixture {
  dir: string;
  config: Config;
  daemon: Daemon;
  logs: string[];
  /** Every response body text seen, for "no password anywhere" checks. */
  bodies: string[];
  admin: string;
  // `json` is whatever the route answered; tests assert its shape field by field.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>, token?: string | null): Promise<{ status: number; json: any; text: string; headers: Headers }>;
  /** Stop and start the daemon again on the same repository (and port). */
  restart(): Promise<void>;
  close(): Promise<void>;
}

/** `daemonOptions`: extra startDaemon options (e.g. schedules: false), kept across restart(). */
export async function startDaemonFixture(rawConfig: Record<string, unknown> = {}, daemonOptions: Omit<StartDaemonOptions, 'logger'> = {}): Promise<DaemonFixture> {
  const dir = makeTempDir('pitrd-daemon');
  const logs: string[] = [];
  const bodies: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(chunk.toString('utf8'));
      cb();
    },
  });
  const logger = createApiLogger({ level: 'debug', destination: sink });
  const tokensFile = join(dir, 'tokens.json');
  const admin = (await new FileTokenStore(tokensFile).create({ name: 'admin', projects: ['*'], tier: 'pro' })).token;
  const config = parseConfig(
    {
      storage: { type: 'fs', path: join(dir, 'repo') },
      compression: 'gzip',
      spool_dir: join(dir, 'spool'),
      ...rawConfig,
      // Merged: a test may add api keys (rate limits, public_url) and keep the port and tokens.
      api: { listen: { host: '127.0.0.1', port: await freePort() }, tokens_file: tokensFile, ...((rawConfig.api ?? {}) as Record<string, unknown>) },
    },
    { baseDir: dir, env: {} },
  );
  let daemon: Daemon;
  try {
    daemon = await startDaemon(config, { ...daemonOptions, logger });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const fx: DaemonFixture = {
    dir,
    config,
    daemon,
    logs,
    bodies,
    admin,
    async call(method, path, body, headers = {}, token = admin) {
      const res = await fetch(`${fx.daemon.url}${path}`, {
        method,
        headers: {
          ...(token !== null ? { authorization: `Bearer ${token}` } : {}),
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...headers,
        },
        ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      bodies.push(text);
      let json: unknown = null;
      try {
        json = JSON.parse(text);
      } catch {
        /* raw routes (metrics) */
      }
      return { status: res.status, json, text, headers: res.headers };
    },
    async restart() {
      await fx.daemon.stop();
      fx.daemon = await startDaemon(config, { ...daemonOptions, logger });
    },
    async close() {
      try {
        await fx.daemon.stop();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
  return fx;
}

/** Run SQL on a server the daemon started (a branch, a restore left running) through its connection URI. */
export async function queryUri<T extends Record<string, unknown>>(uri: string, password: string, text: string): Promise<T[]> {
  const u = new URL(uri);
  const c = new pg.Client({ host: u.hostname, port: Number(u.port), user: decodeURIComponent(u.username), database: decodeURIComponent(u.pathname.slice(1)), password });
  await c.connect();
  try {
    return (await c.query<T>(text)).rows;
  } finally {
    await c.end();
  }
}

/** The ids in the restored copy's `marker` table, in order. */
export async function markerIdsAt(uri: string, password: string): Promise<number[]> {
  return (await queryUri<{ id: number }>(uri, password, 'SELECT id FROM marker ORDER BY id')).map((r) => r.id);
}

