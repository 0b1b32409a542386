/**
 * A real S3-protocol server for integration tests: s3rver 3.7.1 run as a SEPARATE child process
 * (so tests can kill it by PID to simulate a storage outage, then start it again on the same
 * port with the same data). Data lives in a temp dir removed on destroy() and, as a last resort,
 * when the test process exits.
 *
 * Known s3rver faults tests must not rely on: suffix ranges (`bytes=-N`) are wrong, signatures
 * are not verified, multipart ETags are not in AWS form. ListObjectsV2 continuation tokens need
 * `--openssl-legacy-provider` in the server process (set below).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { freePort } from './ports.js';

export interface S3Server {
  endpoint: string;
  region: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  forcePathStyle: true;
  port: number;
  dataDir: string;
  /** Kill the server process by PID (SIGKILL, like a crash); data is kept. */
  stop(): Promise<void>;
  /** Start it again on the same port with the same data. */
  start(): Promise<void>;
  isRunning(): boolean;
  /** Stop and remove every file. Idempotent. */
  destroy(): Promise<void>;
}

export interface StartS3Options {
  /** Bucket name; a fresh random one by default. */
  bucket?: string;
}

/** The `storage` section of a pitrd config (file / daemon form) pointing at `s3`. */
export function s3StorageConfig(s3: S3Server, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: 's3',
    endpoint: s3.endpoint,
    region: s3.region,
    bucket: s3.bucket,
    force_path_style: true,
    access_key_id: s3.accessKeyId,
    secret_access_key: s3.secretAccessKey,
    ...extra,
  };
}

const live = new Map<string, { proc: () => ChildProcess | null; root: string }>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const { proc, root } of live.values()) {
      const p = proc();
      if (p?.pid !== undefined && p.exitCode === null && p.signalCode === null) {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
      rmSync(root, { recursive: true, force: true });
    }
  });
}

// The child script: plain CommonJS so it runs under bare `node` without a TS loader.
const CHILD_SCRIPT = `
'use strict';
const S3rver = require(process.env.S3RVER_PATH);
// s3rver 3.7.1 answers a PUT before its bytes reach the file (it resolves on the hashing
// stream's 'finish', not the file stream's 'close'), so a GET right after an acknowledged PUT can
// read an empty object. S3 guarantees read-after-write; make the test server keep that promise
// by finishing the file before answering. Writes still go in place, so a server killed mid-PUT
// still leaves a torn object (outage tests rely on that).
{
  const path = require('path');
  const fs = require(require.resolve('fs-extra', { paths: [path.dirname(process.env.S3RVER_PATH)] }));
  const { Transform } = require('stream');
  const crypto = require('crypto');
  const Store = require(path.join(path.dirname(process.env.S3RVER_PATH), 'stores', 'filesystem.js'));
  Store.prototype.putObject = async function putObject(object) {
    const objectPath = this.getResourcePath(object.bucket, object.key, 'object');
    await fs.mkdirp(path.dirname(objectPath));
    const [size, md5] = await new Promise((resolve, reject) => {
      const md5Context = crypto.createHash('md5');
      let totalLength = 0;
      const writeStream = fs.createWriteStream(objectPath);
      writeStream.on('error', reject).on('close', () => resolve([totalLength, md5Context.digest('hex')]));
      if (Buffer.isBuffer(object.content)) {
        md5Context.update(object.content);
        totalLength = object.content.length;
        writeStream.end(object.content);
      } else {
        object.content
          .on('error', reject)
          .pipe(new Transform({ transform(chunk, enc, cb) { md5Context.update(chunk, enc); totalLength += chunk.length; cb(null, chunk); } }))
          .on('error', reject)
          .pipe(writeStream);
      }
    });
    await this.putMetadata(object.bucket, object.key, object.metadata, md5);
    return { size, md5 };
  };
}
const server = new S3rver({
  address: '127.0.0.1',
  port: Number(process.env.S3RVER_PORT),
  directory: process.env.S3RVER_DIR,
  silent: true,
  configureBuckets: [{ name: process.env.S3RVER_BUCKET }],
});
server.run().then(
  (addr) => { process.stdout.write('READY ' + addr.port + '\\n'); },
  (err) => { process.stderr.write('s3rver failed: ' + (err && err.stack || err) + '\\n'); process.exit(1); },
);
// Die with the parent: a test runner killed hard must not leave servers behind.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
`;

export async function startS3(opts: StartS3Options = {}): Promise<S3Server> {
  installExitHook();
  const root = mkdtempSync(join(tmpdir(), 'pitrd-s3-'));
  const dataDir = join(root, 'data');
  mkdirSync(dataDir);
  const script = join(root, 's3rver-child.cjs');
  writeFileSync(script, CHILD_SCRIPT);
  const s3rverPath = createRequire(import.meta.url).resolve('s3rver');
  const port = await freePort();
  const bucket = opts.bucket ?? `pitrd-test-${randomBytes(4).toString('hex')}`;
  let proc: ChildProcess | null = null;
  let destroyed = false;
  live.set(root, { proc: () => proc, root });

  const running = (): boolean => proc !== null && proc.exitCode === null && proc.signalCode === null;

  const start = async (): Promise<void> => {
    if (destroyed) throw new Error('S3 server already destroyed');
    if (running()) return;
    const child = spawn(process.execPath, [script], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: {
        ...process.env,
        NODE_OPTIONS: '--openssl-legacy-provider',
        S3RVER_PATH: s3rverPath,
        S3RVER_PORT: String(port),
        S3RVER_DIR: dataDir,
        S3RVER_BUCKET: bucket,
      },
    });
    proc = child;
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const onData = (d: Buffer): void => {
        out += d.toString();
        if (out.includes('READY')) {
          child.stdout?.off('data', onData);
          child.off('exit', onExit);
          resolve();
        }
      };
      const onExit = (code: number | null): void => {
        reject(new Error(`s3rver exited with ${code} before it was ready on port ${port}: ${stderr}`));
      };
      child.stdout?.on('data', onData);
      child.once('exit', onExit);
    });
    // Keep draining so a chatty server never blocks on a full pipe.
    child.stdout?.resume();
  };

  const stop = async (): Promise<void> => {
    const p = proc;
    if (!p || !running() || p.pid === undefined) return;
    const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
    process.kill(p.pid, 'SIGKILL');
    await exited;
  };

  await start();

  return {
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    bucket,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    forcePathStyle: true,
    port,
    dataDir,
    stop,
    start,
    isRunning: running,
    async destroy() {
      if (destroyed) return;
      await stop();
      destroyed = true;
      live.delete(root);
      rmSync(root, { recursive: true, force: true });
    },
  };
}
