/**
 * Storage outages seen from the daemon's health, end to end: a real PostgreSQL 15 (1 MB
 * segments), the daemon in-process streaming into a real s3rver process, pg_receivewal on its own
 * slot as the reference copy. The S3 server is killed by PID while WAL is generated:
 * - GET …/health says `storage_unavailable` (the backups listing failed), not the false
 *   "no successful base backup yet" that a swallowed listing error used to produce;
 * - uploads failing longer than `health.upload_failure_alert_seconds` raise `upload_failing`
 *   long before the 256 MiB backlog threshold, and /metrics exposes the failure as gauges;
 * - when the server is back, the backlog drains, the alerts clear, and every archived segment is
 *   byte-identical to pg_receivewal's.
 * And `pitrd serve` (a real child process) started while the S3 server is down: the first start
 * ever fails clearly (STORAGE_UNAVAILABLE, no verified local copy); after one successful run it
 * starts from the verified local copy of repo.json, receives WAL into its spool, and uploads it
 * byte-identical once the S3 server is back.
 */
import { execa, type ResultPromise } from 'execa';
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify as toYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileTokenStore } from '../../src/auth/index.js';
import { cleanUp, freePort, makeTempDir, s3StorageConfig, startPostgres, startS3, type PgCluster, type S3Server } from '../harness/index.js';
import { compareArchiveWithReference, openReceiverRepo, startPgReceivewal, switchWal, type PgReceivewal } from '../harness/receiver.js';
import { startDaemonFixture, waitFor, type DaemonFixture } from './daemon-fixture.js';

const DB = 'main';
const BASE = `/projects/default/databases/${DB}`;

let pg: PgCluster;
let s3: S3Server;
let ref: PgReceivewal;
let fx: DaemonFixture;
const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const children: ResultPromise[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  [pg, s3] = await Promise.all([startPostgres({ walSegmentSizeMB: 1 }), startS3()]);
  ref = await startPgReceivewal(pg, 'reference');
  await pg.query('CREATE TABLE filler (id serial PRIMARY KEY, v text)');
  fx = await startDaemonFixture(
    {
      storage: s3StorageConfig(s3, { prefix: 'outage' }),
      health: { upload_failure_alert_seconds: 1 },
      databases: [{ name: DB, connection: { host: '127.0.0.1', port: pg.port, user: 'postgres', password: pg.connection.password, dbname: 'postgres', sslmode: 'disable' } }],
    },
    { schedules: false, healthIntervalMs: 300 },
  );
  await waitFor('receiver running', async () => (await fx.call('GET', `${BASE}/pitr/receiver-status`)).json.data?.status === 'running');
}, 120_000);

afterAll(
  () =>
    cleanUp(
      () => fx?.close(),
      ...children.map((c) => async () => {
        if (c.pid !== undefined && c.exitCode === null) process.kill(c.pid, 'SIGKILL');
        await c.catch(() => undefined);
      }),
      ...dirs.map((d) => async () => rmSync(d, { recursive: true, force: true })),
      () => ref?.stop(),
      () => pg?.destroy(),
      () => s3?.destroy(),
    ),
  60_000,
);

async function generateWal(rounds: number): Promise<string> {
  let last = '';
  for (let i = 0; i < rounds; i++) {
    await pg.query("INSERT INTO filler (v) SELECT repeat(md5(g::text), 8) FROM generate_series(1, 3000) g");
    last = (await switchWal(pg)).segment;
  }
  return last;
}

async function health(): Promise<Array<{ kind: string; severity: string; message: string }>> {
  const r = await fx.call('GET', `${BASE}/health`);
  expect(r.status).toBe(200);
  return r.json.data.alerts;
}

function metric(text: string, name: string): number | null {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(`database="${DB}"`));
  return line === undefined ? null : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('an S3 outage under a running daemon', () => {
  it('is reported as storage unavailable and failing uploads, then heals byte-identical', async () => {
    // A completed base backup first: "no successful base backup yet" is then false.
    const created = await fx.call('POST', `${BASE}/backups`, {});
    expect(created.status).toBe(202);
    const id = created.json.data.id as string;
    await generateWal(2);
    await waitFor(`backup ${id} completed`, async () => (await fx.call('GET', `${BASE}/backups/${id}`)).json.data.status === 'completed', 120_000);
    // The health monitor learns of the completed backup at its next evaluation, not at once.
    await waitFor('health clear after the backup', async () => (await health()).length === 0, 60_000);
    const metricsBefore = (await fx.call('GET', '/metrics')).text;
    expect(metric(metricsBefore, 'pitrd_receiver_upload_failing_seconds')).toBe(0);
    expect(metric(metricsBefore, 'pitrd_receiver_upload_consecutive_failures')).toBe(0);

    await s3.stop();
    const last = await generateWal(3);
    const during = await waitFor(
      'the spool holds the WAL while uploads fail',
      async () => {
        const st = (await fx.call('GET', `${BASE}/pitr/receiver-status`)).json.data;
        return st.upload_backlog.segments >= 2 && st.last_wal_file >= last ? st : null;
      },
      60_000,
    );
    expect(during.status).toBe('running');
    const alerts = await waitFor(
      'upload_failing and storage_unavailable raised',
      async () => {
        const a = await health();
        return a.some((x) => x.kind === 'upload_failing') && a.some((x) => x.kind === 'storage_unavailable') ? a : null;
      },
      60_000,
    );
    // Far below the 256 MiB backlog threshold, and no false "no backup" claim.
    expect(alerts.find((a) => a.kind === 'upload_failing')).toMatchObject({ severity: 'critical' });
    expect(alerts.find((a) => a.kind === 'upload_failing')!.message).toMatch(/WAL uploads have been failing for \d+ s \(threshold 1 s\)/);
    expect(alerts.find((a) => a.kind === 'storage_unavailable')!.message).toMatch(/storage unavailable: STORAGE_(UNAVAILABLE|ERROR)/);
    expect(alerts.map((a) => a.kind)).not.toContain('backup_stale');
    // An API call that needs the storage: a code, a safe text and a request id; the endpoint and
    // the bucket stay in the daemon's log (issue 14: no S3 endpoint/bucket in API errors).
    const listed = await fx.call('GET', `${BASE}/backups`);
    expect(listed.status).toBeGreaterThanOrEqual(500);
    expect(['STORAGE_UNAVAILABLE', 'STORAGE_ERROR']).toContain(listed.json.error.code);
    expect(listed.json.error.message).toMatch(/request req_[0-9a-f]+/);
    for (const secretish of [s3.endpoint, `127.0.0.1:${s3.port}`, s3.bucket]) expect(listed.text).not.toContain(secretish);
    expect(alerts.map((a) => a.kind)).not.toContain('upload_backlog');
    const metricsDuring = (await fx.call('GET', '/metrics')).text;
    expect(metric(metricsDuring, 'pitrd_receiver_upload_failing_seconds')).toBeGreaterThan(0);
    expect(metric(metricsDuring, 'pitrd_receiver_upload_consecutive_failures')).toBeGreaterThanOrEqual(1);
    expect(metricsDuring).toMatch(/pitrd_alert_active\{project="default",database="main",kind="upload_failing",severity="critical"\} 1/);
    expect(metricsDuring).toMatch(/pitrd_alert_active\{project="default",database="main",kind="storage_unavailable",severity="critical"\} 1/);

    await s3.start();
    for (const e of fx.daemon.databases.listEntries()) e.receiver?.retryUploads();
    await waitFor(
      'backlog uploaded',
      async () => {
        const st = (await fx.call('GET', `${BASE}/pitr/receiver-status`)).json.data;
        return st.upload_backlog.segments === 0 && st.last_uploaded_lsn !== null;
      },
      120_000,
    );
    await waitFor('alerts cleared', async () => (await health()).length === 0, 60_000);
    const metricsAfter = (await fx.call('GET', '/metrics')).text;
    expect(metric(metricsAfter, 'pitrd_receiver_upload_failing_seconds')).toBe(0);
    expect(metric(metricsAfter, 'pitrd_receiver_upload_consecutive_failures')).toBe(0);

    await waitFor(`pg_receivewal to hold ${last}`, () => ref.segments().includes(last), 60_000);
    const { names, compared } = await compareArchiveWithReference(fx.daemon.repo.database({ project: 'default', name: DB }).wal, ref, 1);
    expect(names).toContain(last);
    expect(compared).toBeGreaterThanOrEqual(5);
  }, 300_000);
});

/** The receiver's 'receiver stopped' log line among the lines logged since index `from`. */
function stoppedLine(from: number): Record<string, any> | undefined {
  const lines = fx.logs.slice(from).join('').split('\n').filter((l) => l.trim() !== '');
  return lines.map((l) => JSON.parse(l) as Record<string, any>).find((l) => l.msg === 'receiver stopped' && l.database === DB);
}

describe('stopping the daemon', () => {
  it('drains the upload backlog while storage answers, and does not hang while it does not', async () => {
    // A backlog: S3 down while segments complete; the uploader then sleeps in its backoff.
    await s3.stop();
    const last = await generateWal(2);
    await waitFor('a backlog', async () => {
      const st = (await fx.call('GET', `${BASE}/pitr/receiver-status`)).json.data;
      return st.upload_backlog.segments >= 2 && st.last_wal_file >= last && st.upload_error !== null;
    }, 60_000);
    // Storage back, and at once a stop: the stop uploads the backlog instead of leaving it.
    await s3.start();
    const logsBefore = fx.logs.length;
    await fx.restart();
    const stopped = stoppedLine(logsBefore);
    expect(stopped?.upload_backlog).toEqual({ segments: 0, bytes: 0 });
    expect(await fx.daemon.repo.database({ project: 'default', name: DB }).wal.hasSegment(1, last)).toBe(true);
    await waitFor('receiver running again', async () => (await fx.call('GET', `${BASE}/pitr/receiver-status`)).json.data?.status === 'running');

    // Storage down: stop returns after the drain deadline; the backlog stays in the spool.
    await s3.stop();
    const more = await generateWal(2);
    await waitFor('a backlog', async () => {
      const st = (await fx.call('GET', `${BASE}/pitr/receiver-status`)).json.data;
      return st.upload_backlog.segments >= 2 && st.last_wal_file >= more;
    }, 60_000);
    const at = fx.logs.length;
    await fx.daemon.stop();
    const down = stoppedLine(at);
    expect(down?.upload_backlog.segments).toBeGreaterThanOrEqual(2);
    expect(readdirSync(join(fx.config.spool_dir, 'default', DB))).toContain(more);
    await s3.start();
    await fx.restart();
    await waitFor('the backlog uploaded by the next start', async () => (await fx.daemon.repo.database({ project: 'default', name: DB }).wal.hasSegment(1, more)) === true, 120_000);
  }, 300_000);
});

describe('pitrd serve started while S3 is down', () => {
  it('fails clearly the first time ever; after one successful run it receives into the spool and uploads when S3 is back', async () => {
    const dir = makeTempDir('pitrd-serve-outage');
    dirs.push(dir);
    const tokensFile = join(dir, 'tokens.json');
    const token = (await new FileTokenStore(tokensFile).create({ name: 'ops', projects: ['*'], tier: 'pro' })).token;
    const port = await freePort();
    writeFileSync(join(dir, 'pg.pass'), `${pg.connection.password}\n`, { mode: 0o600 });
    const prefix = 'served';
    writeFileSync(
      join(dir, 'pitrd.yaml'),
      toYaml({
        storage: s3StorageConfig(s3, { prefix }),
        spool_dir: 'spool',
        api: { listen: { host: '127.0.0.1', port }, tokens_file: 'tokens.json' },
        databases: [{ name: 'served', connection: { host: '127.0.0.1', port: pg.port, user: 'postgres', password_file: 'pg.pass', dbname: 'postgres', sslmode: 'disable' } }],
      }),
    );
    const serve = () => {
      const out = { text: '' };
      const child = execa(process.execPath, ['--import', import.meta.resolve('tsx'), join(root, 'src/cli/main.ts'), 'serve', '-c', join(dir, 'pitrd.yaml')], {
        cwd: dir,
        reject: false,
        all: true,
        env: { PITRD_LOG_LEVEL: 'debug' },
      });
      children.push(child);
      child.all?.on('data', (b: Buffer) => (out.text += b.toString('utf8')));
      return { child, out };
    };
    const api = async (path: string) => {
      const r = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { authorization: `Bearer ${token}` } });
      return ((await r.json()) as { data: any }).data;
    };
    const status = () => api('/projects/default/databases/served/pitr/receiver-status');

    // 1. The first start ever, storage down: nothing to start from; says why and exits.
    await s3.stop();
    const first = await serve().child;
    expect(first.exitCode).not.toBe(0);
    expect(first.all).toMatch(/STORAGE_UNAVAILABLE/);
    expect(first.all).toMatch(/no verified local copy of repo\.json/);

    // 2. A successful run: repo.json read and checked, the local copy kept, WAL archived.
    await s3.start();
    const ok = serve();
    await waitFor('API listening', () => ok.out.text.includes('pitrd API listening'), 60_000);
    await waitFor('receiver running', async () => (await status())?.status === 'running');
    await generateWal(1);
    await waitFor('a segment archived', async () => (await status()).segments_archived >= 1, 60_000);
    process.kill(ok.child.pid!, 'SIGTERM');
    expect((await ok.child).exitCode).toBe(0);
    expect(existsSync(join(dir, 'spool', 'repository.json'))).toBe(true);

    // 3. Storage down before the start: the daemon starts from the verified copy and receives.
    await s3.stop();
    const down = serve();
    await waitFor('API listening', () => down.out.text.includes('pitrd API listening'), 60_000);
    expect(down.out.text).toContain('started from the verified local copy of repo.json');
    await waitFor('receiver running', async () => (await status())?.status === 'running', 60_000);
    const last = await generateWal(3);
    await waitFor(
      'the WAL received into the spool',
      async () => {
        const st = await status();
        return st.last_wal_file >= last && st.upload_backlog.segments >= 3;
      },
      60_000,
    );
    const spooled = readdirSync(join(dir, 'spool', 'default', 'served')).filter((f) => /^[0-9A-F]{24}$/.test(f));
    expect(spooled.length).toBeGreaterThanOrEqual(3);
    // 4. Storage back: the backlog is uploaded, byte-identical to pg_receivewal's copy.
    await s3.start();
    await waitFor('backlog uploaded', async () => (await status()).upload_backlog.segments === 0, 120_000);
    process.kill(down.child.pid!, 'SIGTERM');
    expect((await down.child).exitCode).toBe(0);
    await waitFor(`pg_receivewal to hold ${last}`, () => ref.segments().includes(last), 60_000);
    const repo = await openReceiverRepo({ kind: 's3', endpoint: s3.endpoint, bucket: s3.bucket, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, region: s3.region, prefix }, 'served');
    try {
      const { names, compared } = await compareArchiveWithReference(repo.wal, ref, 1);
      for (const name of spooled) expect(names).toContain(name);
      expect(compared).toBeGreaterThanOrEqual(4);
    } finally {
      await repo.close();
    }
  }, 400_000);
});
