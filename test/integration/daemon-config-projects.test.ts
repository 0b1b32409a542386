/**
 * The configuration file's projects are real projects (issue 17): a daemon with databases in the
 * file's `default` project and in `analytics`, and one project created through the API. Listed,
 * gettable, scoped by tokens like any other, stable across a daemon restart, and not deletable
 * through the API while the file names them. Real PostgreSQL, real fs repository, real HTTP.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileTokenStore } from '../../src/auth/index.js';
import { cleanUp, startPostgres, type PgCluster } from '../harness/index.js';
import { startDaemonFixture, type DaemonFixture } from './daemon-fixture.js';

let pg: PgCluster;
let fx: DaemonFixture;
let apiProject: string;
let analyticsOnly: string;

beforeAll(async () => {
  pg = await startPostgres();
  const connection = { host: '127.0.0.1', port: pg.port, user: 'postgres', password: pg.connection.password, dbname: 'postgres', sslmode: 'disable' };
  fx = await startDaemonFixture(
    {
      databases: [
        { name: 'main', connection, pitr: { enabled: false } },
        { name: 'events', project: 'analytics', connection, pitr: { enabled: false } },
      ],
    },
    { schedules: false },
  );
  apiProject = (await fx.call('POST', '/projects', { name: 'web' })).json.data.id;
  analyticsOnly = (await new FileTokenStore(fx.config.api.tokens_file!).create({ name: 'analytics', projects: ['analytics'], tier: 'pro' })).token;
}, 120_000);

afterAll(() => cleanUp(() => fx?.close(), () => pg?.stop()));

describe("the configuration file's projects", () => {
  it('are listed beside the API projects, marked by their source', async () => {
    const r = await fx.call('GET', '/projects');
    expect(r.status).toBe(200);
    const byId = new Map((r.json.data.projects as Array<{ id: string; name: string; source: string; created_at: string }>).map((p) => [p.id, p]));
    expect(byId.get('default')).toMatchObject({ name: 'default', source: 'config' });
    expect(byId.get('analytics')).toMatchObject({ name: 'analytics', source: 'config' });
    expect(byId.get(apiProject)).toMatchObject({ name: 'web', source: 'api' });
  });

  it('are gettable, and their databases are under them', async () => {
    const p = await fx.call('GET', '/projects/default');
    expect(p.status).toBe(200);
    expect(p.json.data).toMatchObject({ id: 'default', name: 'default', source: 'config' });
    const dbs = await fx.call('GET', '/projects/analytics/databases');
    expect(dbs.json.data.databases.map((d: { name: string }) => d.name)).toEqual(['events']);
  });

  it('are scoped by tokens like any other project', async () => {
    const list = await fx.call('GET', '/projects', undefined, {}, analyticsOnly);
    expect(list.json.data.projects.map((p: { id: string }) => p.id)).toEqual(['analytics']);
    const other = await fx.call('GET', '/projects/default', undefined, {}, analyticsOnly);
    expect(other.status).toBe(404);
    expect(other.json.error.code).toBe('PROJECT_NOT_FOUND');
    expect((await fx.call('GET', '/projects/default/databases/main', undefined, {}, analyticsOnly)).json.error.code).toBe('PROJECT_NOT_FOUND');
    expect((await fx.call('GET', '/projects/analytics', undefined, {}, analyticsOnly)).status).toBe(200);
  });

  it('cannot be deleted through the API, and their names are taken', async () => {
    const d = await fx.call('DELETE', '/projects/default');
    expect(d.status).toBe(409);
    expect(d.json.error.code).toBe('CONFLICT');
    expect(d.json.error.message).toContain('configuration file');
    const dup = await fx.call('POST', '/projects', { name: 'analytics' });
    expect(dup.status).toBe(409);
    expect((await fx.call('GET', '/projects/default')).status).toBe(200);
  });

  it('keep their created_at across a daemon restart (cursor pages do not shift)', async () => {
    const before = (await fx.call('GET', '/projects')).json.data.projects;
    await fx.restart();
    const after = (await fx.call('GET', '/projects')).json.data.projects;
    expect(after).toEqual(before);
    // Cursor pages walk every project exactly once.
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const q: string = cursor ? `?limit=1&cursor=${encodeURIComponent(cursor)}` : '?limit=1';
      const page = (await fx.call('GET', `/projects${q}`)).json.data;
      seen.push(...page.projects.map((p: { id: string }) => p.id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen.sort()).toEqual(before.map((p: { id: string }) => p.id).sort());
  });
});
