/**
 * Restores are bounded, through the real daemon (in-process, fs repository) and a real
 * PostgreSQL 15 source registered twice (two databases, two slots): concurrent restores per
 * database and in total are limited by config (branches count), DELETE …/pitr/restores/:id stops
 * a restore's server and removes its directory (again: same answer; unknown: 404; a branch's
 * restore: 409), and a restore that would not fit on disk is refused with the figures before
 * anything is written.
 */
import { existsSync, readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon } from '../../src/daemon.js';
import { createApiLogger } from '../../src/api/index.js';
import type { Config } from '../../src/config/index.js';
import { cleanUp, freePort, startPostgres, type PgCluster } from '../harness/index.js';
import { markerIdsAt, startDaemonFixture, waitFor, type DaemonFixture } from './daemon-fixture.js';

const PASSWORD = 'Lm3-limits-Secret-pw';
let source: PgCluster;
let fx: DaemonFixture;
let projectId: string;
const db = (name: string) => `/projects/${projectId}/databases/${name}`;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- route JSON, asserted field by field
async function restoreRunning(name: string): Promise<any> {
  const r = await fx.call('POST', `${db(name)}/pitr/restore`, { target: 'latest', mode: 'running' });
  expect(r.status, JSON.stringify(r.json)).toBe(202);
  return waitFor(`restore ${r.json.data.restore_id}`, async () => {
    const d = (await fx.call('GET', `${db(name)}/pitr/restores/${r.json.data.restore_id}`)).json.data;
    if (d.status === 'failed') throw new Error(`restore failed: ${d.error}`);
    return d.status === 'completed' ? d : null;
  }, 180_000, 200);
}

beforeAll(async () => {
  source = await startPostgres({ walSegmentSizeMB: 1, password: PASSWORD });
  await source.query('CREATE TABLE marker (id serial PRIMARY KEY)');
  fx = await startDaemonFixture({ restores: { max_per_database: 2, max_total: 2, min_free_bytes: 0 } }, { schedules: false, summaryIntervalMs: 500 });
  projectId = (await fx.call('POST', '/projects', { name: 'limits' })).json.data.id;
  for (const name of ['main', 'second']) {
    expect((await fx.call('POST', `/projects/${projectId}/databases`, { name, host: '127.0.0.1', port: source.port, user: 'postgres', password: PASSWORD, dbname: 'postgres', sslmode: 'disable' })).status).toBe(201);
    expect((await fx.call('POST', `${db(name)}/pitr/enable`)).status).toBe(200);
    await waitFor('receiver running', async () => (await fx.call('GET', `${db(name)}/pitr/receiver-status`)).json.data?.status === 'running');
    const b = await fx.call('POST', `${db(name)}/backups`);
    expect(b.status).toBe(202);
    await waitFor('backup completed', async () => (await fx.call('GET', `${db(name)}/backups/${b.json.data.id}`)).json.data.status === 'completed', 120_000, 200);
  }
  await source.query('INSERT INTO marker DEFAULT VALUES');
  await source.query('SELECT pg_switch_wal()');
}, 300_000);

afterAll(() => cleanUp(() => fx?.close(), () => source?.destroy()), 120_000);

describe('restores are bounded', () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const kept: any[] = [];

  it('refuses a restore past max_per_database, then past max_total, with RESTORE_LIMIT_REACHED', async () => {
    kept.push(await restoreRunning('main'), await restoreRunning('main'));
    expect(await markerIdsAt(kept[0].connection_uri, PASSWORD)).toEqual([1]);
    const before = (await fx.call('GET', `${db('main')}/pitr/restores`)).json.data.total_count;
    const third = await fx.call('POST', `${db('main')}/pitr/restore`, { target: 'latest', mode: 'running' });
    expect(third.status).toBe(409);
    expect(third.json.error.code).toBe('RESTORE_LIMIT_REACHED');
    expect(third.json.error.message).toMatch(/restores\.max_per_database = 2/);
    expect((await fx.call('GET', `${db('main')}/pitr/restores`)).json.data.total_count).toBe(before);
    const other = await fx.call('POST', `${db('second')}/pitr/restore`, { target: 'latest' });
    expect(other.status).toBe(409);
    expect(other.json.error.code).toBe('RESTORE_LIMIT_REACHED');
    expect(other.json.error.message).toMatch(/restores\.max_total = 2/);
  }, 300_000);

  it('DELETE stops the server and removes the directory; again: the same answer; unknown: 404', async () => {
    const r = kept[0];
    const url = `${db('main')}/pitr/restores/${r.id}`;
    const del = await fx.call('DELETE', url);
    expect(del.status, JSON.stringify(del.json)).toBe(200);
    expect(del.json.data).toMatchObject({ id: r.id, status: 'completed', connection_uri: null });
    expect(del.json.data.removed_at).toEqual(expect.any(String));
    expect(existsSync(r.target_dir)).toBe(false);
    await expect(markerIdsAt(r.connection_uri, PASSWORD)).rejects.toThrow();
    expect((await fx.call('GET', url)).json.data.removed_at).toBe(del.json.data.removed_at);
    const again = await fx.call('DELETE', url);
    expect(again.status).toBe(200);
    expect(again.json.data.removed_at).toBe(del.json.data.removed_at);
    const unknown = await fx.call('DELETE', `${db('main')}/pitr/restores/rstr_20260101T000000Z_00000000`);
    expect(unknown.status).toBe(404);
    expect(unknown.json.error.code).toBe('RESTORE_NOT_FOUND');
    const otherProject = (await fx.call('POST', '/projects', { name: 'other' })).json.data.id;
    expect((await fx.call('DELETE', `/projects/${otherProject}/databases/main/pitr/restores/${kept[1].id}`)).status).toBe(404);
    expect(existsSync(kept[1].target_dir)).toBe(true);
    const doc = (await fx.call('GET', '/openapi.json')).json;
    expect(Object.keys(doc.paths['/projects/{project_id}/databases/{name}/pitr/restores/{restore_id}'])).toEqual(expect.arrayContaining(['get', 'delete']));
  }, 120_000);

  it('a freed place is usable again; branches count, and their restores are deleted as branches', async () => {
    kept.push(await restoreRunning('second'));
    expect((await fx.call('DELETE', `${db('main')}/pitr/restores/${kept[1].id}`)).status).toBe(200);
    const br = await fx.call('POST', `${db('second')}/branches`, { branch_name: 'b1', target: 'latest' });
    expect(br.status, JSON.stringify(br.json)).toBe(202);
    const branch = await waitFor('branch running', async () => {
      const d = (await fx.call('GET', `${db('second')}/branches/${br.json.data.id}`)).json.data;
      if (d.status === 'failed') throw new Error(d.error);
      return d.status === 'running' ? d : null;
    }, 180_000, 200);
    const viaRestore = await fx.call('DELETE', `${db('second')}/pitr/restores/${branch.restore_id}`);
    expect(viaRestore.status).toBe(409);
    expect(viaRestore.json.error.message).toMatch(/delete the branch/);
    const full = await fx.call('POST', `${db('main')}/pitr/restore`, { target: 'latest' });
    expect(full.status).toBe(409);
    expect(full.json.error.code).toBe('RESTORE_LIMIT_REACHED');
    expect((await fx.call('DELETE', `${db('second')}/branches/${branch.id}`)).status).toBe(200);
    expect((await fx.call('DELETE', `${db('second')}/pitr/restores/${kept[2].id}`)).status).toBe(200);
  }, 300_000);

  it('refuses a restore that would not fit on disk, with the figures, before writing anything', async () => {
    await fx.daemon.stop();
    const config = { ...fx.config, api: { ...fx.config.api, listen: { host: '127.0.0.1', port: await freePort() } }, restores: { ...fx.config.restores, min_free_bytes: 10 ** 15 } } as Config;
    fx.daemon = await startDaemon(config, { schedules: false, logger: createApiLogger({ level: 'warn' }) });
    // Where this database's restores go (its earlier ones were there: the directory stays).
    const restoresOfMain = dirname(kept[1].target_dir);
    const dirsBefore = readdirSync(restoresOfMain).length;
    const before = (await fx.call('GET', `${db('main')}/pitr/restores`)).json.data.total_count;
    const r = await fx.call('POST', `${db('main')}/pitr/restore`, { target: 'latest' });
    expect(r.status, JSON.stringify(r.json)).toBe(507);
    expect(r.json.error.code).toBe('INSUFFICIENT_DISK_SPACE');
    expect(r.json.error.message).toMatch(/needs about [\d.]+ MiB \(base backup unpacked [\d.]+ MiB \+ WAL held during replay [\d.]+ MiB \+ reserve 953674316\.4 MiB\), the restore directory's file system has [\d.]+ MiB free/);
    expect((await fx.call('GET', `${db('main')}/pitr/restores`)).json.data.total_count).toBe(before);
    expect(readdirSync(restoresOfMain).length).toBe(dirsBefore);
  }, 120_000);
});
