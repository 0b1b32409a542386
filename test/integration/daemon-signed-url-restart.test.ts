/**
 * Download URLs of an fs repository are signed with a secret kept in the repository, so a URL
 * handed out before a daemon restart still serves the object after it (until it expires). And a
 * download in flight on a keep-alive connection when the daemon stops does not hold shutdown for
 * the keep-alive timeout: it finishes, then its connection is closed.
 */
import { Agent, get } from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cleanUp, startPostgres, type PgCluster } from '../harness/index.js';
import { startDaemonFixture, waitFor, type DaemonFixture } from './daemon-fixture.js';

const PASSWORD = 'Signed-url-restart-pw-3';
let pg: PgCluster;
let fx: DaemonFixture;
let url = '';
let stored: Buffer = Buffer.alloc(0);

beforeAll(async () => {
  pg = await startPostgres({ walSegmentSizeMB: 1, password: PASSWORD });
  fx = await startDaemonFixture({}, { schedules: false });
}, 120_000);

afterAll(() => cleanUp(() => fx?.close(), () => pg?.destroy()), 60_000);

it('keeps a download URL handed out before a restart valid after it', async () => {
  const projectId: string = (await fx.call('POST', '/projects', { name: 'urls' })).json.data.id;
  const reg = await fx.call('POST', `/projects/${projectId}/databases`, { name: 'main', host: '127.0.0.1', port: pg.port, user: 'postgres', password: PASSWORD, dbname: 'postgres', sslmode: 'disable' });
  expect(reg.status).toBe(201);
  const base = `/projects/${projectId}/databases/main`;
  const id: string = (await fx.call('POST', `${base}/backups`)).json.data.id;
  await waitFor(`backup ${id} completed`, async () => (await fx.call('GET', `${base}/backups/${id}`)).json.data.status === 'completed', 120_000, 200);
  const d = await fx.call('GET', `${base}/backups/${id}/download`);
  expect(d.status).toBe(200);
  url = d.json.data.download_url;

  await fx.restart();
  const res = await fetch(url);
  expect(res.status).toBe(200);
  stored = await fx.daemon.repo.store.getBuffer(fx.daemon.repo.database({ project: projectId, name: 'main' }).backups.dataKey(id, 'base.tar.gz'));
  expect(Buffer.from(await res.arrayBuffer()).equals(stored)).toBe(true);
  // A tampered signature is still refused by the restarted daemon.
  expect((await fetch(url.replace(/sig=[0-9a-f]/, (m) => (m.endsWith('0') ? m.slice(0, -1) + '1' : m.slice(0, -1) + '0')))).status).toBe(403);
}, 180_000);

it('finishes a download in flight at shutdown and then stops, without waiting for keep-alive to expire', async () => {
  const agent = new Agent({ keepAlive: true });
  try {
    const chunks: Buffer[] = [];
    let stopping: Promise<void> | undefined;
    const body = new Promise<Buffer>((resolve, reject) => {
      get(url, { agent }, (res) => {
        expect(res.statusCode).toBe(200);
        // Hold the response mid-stream while the daemon is told to stop.
        res.pause();
        stopping = fx.daemon.stop();
        setTimeout(() => res.resume(), 300);
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(Buffer.concat(chunks)));
        res.on('error', reject);
      }).on('error', reject);
    });
    const got = await body;
    expect(got.equals(stored)).toBe(true);
    // Before the fix this waited for fastify's 72 s keep-alive timeout (past this test's timeout).
    await stopping;
  } finally {
    agent.destroy();
  }
}, 50_000);

