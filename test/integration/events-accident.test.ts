/**
 * "Find the accident" end to end on a real PostgreSQL 15 with the real receiver and base backup:
 * concurrent writers insert into four tables while, one transaction among many each, a TRUNCATE,
 * a DELETE without WHERE and a DROP TABLE commit. `pitrd events` (the real CLI) names each with its
 * table and the transaction's xid; a restore just before each (the event's own restore target,
 * through --before-event for the drop) holds exactly the rows whose insert committed before the
 * event's commit record — every row of the event's table and of the tables untouched so far, and
 * nothing committed after. Exactness is checked against the commit records of the archived WAL
 * (xid → commit LSN), as the golden restore tests do.
 */
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findEvent } from '../../src/catalog/index.js';
import { readSegmentBytes } from '../../src/catalog/load.js';
import { pgStop } from '../../src/postgres/cluster/index.js';
import { parseTargetOrEvent } from '../../src/restore/index.js';
import { decodeRecord, readSegment, type WalContinuation } from '../../src/wal/index.js';
import { startArchiveFixture, type ArchiveFixture } from '../harness/archive-fixture.js';
import { cliJson, cliJsonError } from '../harness/cli-json.js';

const TABLES = ['orders', 't_trunc', 't_del', 'other'] as const;
type Table = (typeof TABLES)[number];
const PRELOAD = 1500;

interface Row {
  table: Table;
  id: number;
  xid: number;
}

interface CliEvent {
  id: string;
  kind: string;
  xid: string | null;
  lsn: string;
  relations: string[];
  rows: number | null;
  restore_target: { target_xid: string; inclusive: false; timeline: number };
}

let fx: ArchiveFixture;
const rows: Row[] = [];
const accident = { truncate: 0, delete: 0, drop: 0 };
/** xid → LSN of its commit record, from the archived WAL. */
const commitLsn = new Map<number, bigint>();
let events: CliEvent[] = [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function client(): Promise<pg.Client> {
  const c = new pg.Client({ ...fx.source.connection, database: 'postgres' });
  await c.connect();
  return c;
}

/** Run `sql` in its own transaction on `c`; returns the transaction's xid. */
async function inTransaction(c: pg.Client, sql: string): Promise<number> {
  await c.query('BEGIN');
  await c.query(sql);
  const x = (await c.query<{ x: string }>('SELECT txid_current()::text AS x')).rows[0]!.x;
  await c.query('COMMIT');
  return Number(x);
}

beforeAll(async () => {
  fx = await startArchiveFixture({ tag: 'evt' });
  for (const t of TABLES) await fx.source.query(`CREATE TABLE ${t} (id bigserial PRIMARY KEY, w int NOT NULL)`);
  for (const r of await fx.source.query<{ id: string; x: string }>(`INSERT INTO t_del (w) SELECT g FROM generate_series(1, ${PRELOAD}) g RETURNING id::text, txid_current()::text AS x`)) {
    rows.push({ table: 't_del', id: Number(r.id), xid: Number(r.x) });
  }
  // The base backup takes the relation map that names the tables (also once orders is gone).
  expect((await fx.backup('events')).status).toBe('completed');

  let stop = false;
  const writers = [0, 1, 2].map(async (w) => {
    const c = await client();
    try {
      for (let i = 0; !stop; i++) {
        const table = TABLES[(i + w) % TABLES.length]!;
        try {
          const r = (await c.query<{ id: string; x: string }>(`INSERT INTO ${table} (w) VALUES ($1) RETURNING id::text, txid_current()::text AS x`, [w])).rows[0]!;
          rows.push({ table, id: Number(r.id), xid: Number(r.x) });
        } catch (err) {
          if (!/does not exist/.test((err as Error).message)) throw err; // orders after its drop
        }
        await sleep(3);
      }
    } finally {
      await c.end();
    }
  });
  const dba = await client();
  try {
    await sleep(800);
    accident.truncate = await inTransaction(dba, 'TRUNCATE t_trunc');
    await sleep(800);
    accident.delete = await inTransaction(dba, 'DELETE FROM t_del');
    await sleep(800);
    accident.drop = await inTransaction(dba, 'DROP TABLE orders');
    await sleep(800);
  } finally {
    stop = true;
    await Promise.all(writers);
    await dba.end();
  }
  await fx.source.query('CREATE TABLE tail ()'); // a commit after the last event
  await fx.switchAndWait();

  // Every commit record of the archive: xid → LSN.
  let cont: WalContinuation | null = null;
  for await (const seg of fx.db.wal.listSegments(1)) {
    const r = readSegment(await readSegmentBytes(fx.db, seg), { name: seg.name, continuation: cont });
    cont = r.continuation;
    for (const rec of r.records) {
      const e = decodeRecord(rec);
      if (e.kind === 'commit') commitLsn.set(e.xid, e.lsn);
    }
  }
  const res = await fx.cli(['events', '--json']);
  expect(res.exitCode, res.stderr).toBe(0);
  events = cliJson<{ events: CliEvent[] }>(res.stdout).events;
}, 300_000);

afterAll(async () => {
  await fx?.destroy();
}, 60_000);

/** The rows of each checked table whose insert committed before `lsn`, by table. */
function expectedBefore(lsn: bigint, tables: readonly Table[]): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const t of tables) {
    out[t] = rows
      .filter((r) => r.table === t && commitLsn.get(r.xid)! < lsn)
      .map((r) => r.id)
      .sort((a, b) => a - b);
  }
  return out;
}

async function idsOn(c: pg.Client, tables: readonly Table[]): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {};
  for (const t of tables) out[t] = (await c.query<{ id: string }>(`SELECT id FROM ${t} ORDER BY id`)).rows.map((r) => Number(r.id));
  return out;
}

function eventOf(kind: string, relation: string): CliEvent {
  const e = events.find((x) => x.kind === kind && x.relations.includes(relation));
  if (!e) throw new Error(`no ${kind} event on ${relation} in ${JSON.stringify(events.map((x) => [x.kind, x.relations, x.xid]))}`);
  return e;
}

describe('event index: find the accident, restore just before it', () => {
  it('every row was committed, and each accident is one commit record', () => {
    expect(rows.length).toBeGreaterThan(PRELOAD + 40);
    for (const r of rows) expect(commitLsn.has(r.xid), `xid ${r.xid} of ${r.table} ${r.id}`).toBe(true);
    for (const x of Object.values(accident)) expect(commitLsn.has(x)).toBe(true);
  });

  it('pitrd events --kind drop names public.orders with the DROP\'s xid', async () => {
    const res = await fx.cli(['events', '--kind', 'drop', '--json']);
    expect(res.exitCode, res.stderr).toBe(0);
    const drops = cliJson<{ events: CliEvent[] }>(res.stdout).events;
    expect(drops.map((e) => e.kind)).toEqual(['drop']);
    expect(drops[0]!.relations).toEqual(['public.orders']);
    expect(drops[0]!.xid).toBe(String(accident.drop));
    expect(drops[0]!.restore_target).toEqual({ target_xid: String(accident.drop), inclusive: false, timeline: 1 });
  });

  it('the TRUNCATE and the DELETE without WHERE are indexed with their tables and xids', () => {
    expect(eventOf('truncate', 'public.t_trunc').xid).toBe(String(accident.truncate));
    const del = eventOf('delete', 'public.t_del');
    expect(del.xid).toBe(String(accident.delete));
    expect(del.rows).toBeGreaterThanOrEqual(PRELOAD);
    // The writers' single-row transactions are not events; the drop is not also a schema change.
    expect(events.filter((e) => e.kind === 'delete' || e.kind === 'update')).toHaveLength(1);
    expect(events.some((e) => e.kind === 'schema' && e.xid === String(accident.drop))).toBe(false);
  });

  it('a restore before the TRUNCATE holds exactly the rows committed before it', async () => {
    const e = eventOf('truncate', 'public.t_trunc');
    const tables: Table[] = ['t_trunc', 'orders', 't_del', 'other'];
    const expected = expectedBefore(commitLsn.get(accident.truncate)!, tables);
    expect(expected.t_trunc!.length).toBeGreaterThan(0);
    const t = await parseTargetOrEvent([{ field: 'event', value: e.id, as: 'before_event' }], ['before_event'], { findEvent: async (id, as) => (await findEvent(fx.db, id, as)).restore_target });
    const got = await fx.restoreRunning({ target: t.target, inclusive: t.inclusive!, timeline: t.timeline! }, async (r) => {
      const c = new pg.Client({ host: '127.0.0.1', port: r.port!, user: 'postgres', database: 'postgres', password: fx.source.connection.password });
      await c.connect();
      try {
        return await idsOn(c, tables);
      } finally {
        await c.end();
      }
    });
    expect(got).toEqual(expected);
  }, 180_000);

  it('a restore before the DELETE holds exactly the rows committed before it', async () => {
    const e = eventOf('delete', 'public.t_del');
    // t_trunc was emptied by the earlier TRUNCATE: its rows are those committed between the two.
    const tables: Table[] = ['t_del', 'orders', 'other'];
    const lsn = commitLsn.get(accident.delete)!;
    const expected = expectedBefore(lsn, tables);
    const truncLsn = commitLsn.get(accident.truncate)!;
    expected.t_trunc = rows.filter((r) => r.table === 't_trunc' && commitLsn.get(r.xid)! > truncLsn && commitLsn.get(r.xid)! < lsn).map((r) => r.id).sort((a, b) => a - b);
    const got = await fx.restoreRunning({ target: { kind: 'xid', xid: e.restore_target.target_xid }, inclusive: false, timeline: e.restore_target.timeline }, async (r) => {
      const c = new pg.Client({ host: '127.0.0.1', port: r.port!, user: 'postgres', database: 'postgres', password: fx.source.connection.password });
      await c.connect();
      try {
        return await idsOn(c, [...tables, 't_trunc']);
      } finally {
        await c.end();
      }
    });
    expect(got).toEqual(expected);
    expect(got.t_del!.length).toBeGreaterThanOrEqual(PRELOAD);
  }, 180_000);

  it('pitrd restore --before-event restores every row of orders committed before the DROP, and nothing after', async () => {
    const e = eventOf('drop', 'public.orders');
    const dir = join(fx.tempDir('drop-restore'), 'data');
    const res = await fx.cli(['restore', '--before-event', e.id, '--target-dir', dir, '--run', '--json']);
    expect(res.exitCode, res.stderr).toBe(0);
    const out = cliJson<{ connection_string: string; restore: { target_xid: string | null } }>(res.stdout);
    try {
      const lsn = commitLsn.get(accident.drop)!;
      const expected = expectedBefore(lsn, ['orders', 'other']);
      expect(expected.orders!.length).toBeGreaterThan(0);
      const c = new pg.Client({ host: dir, port: Number(new URL(out.connection_string).port), user: 'postgres', database: 'postgres' });
      await c.connect();
      try {
        expect(await idsOn(c, ['orders', 'other'])).toEqual(expected);
      } finally {
        await c.end();
      }
    } finally {
      await pgStop(dir).catch(() => undefined);
    }
  }, 180_000);

  it('a malformed or unknown event id is refused before anything is written', async () => {
    const dir = join(fx.tempDir('bad-event'), 'data');
    const bad = await fx.cli(['restore', '--before-event', 'evt_nope', '--target-dir', dir, '--json']);
    expect(bad.exitCode).not.toBe(0);
    expect(cliJsonError(bad.stdout).code).toBe('EVENT_ID_INVALID');
    const unknown = await fx.cli(['restore', '--before-event', 'evt_00000000FFFFFF00_00000001_0', '--target-dir', dir, '--json']);
    expect(unknown.exitCode).not.toBe(0);
    expect(cliJsonError(unknown.stdout)).toMatchObject({ code: 'EVENT_NOT_FOUND' });
    expect(cliJsonError(unknown.stdout).message).toMatch(/evt_00000000FFFFFF00_00000001_0/);
    const both = await fx.cli(['restore', '--before-event', eventOf('drop', 'public.orders').id, '--to-xid', '1234', '--target-dir', dir, '--json']);
    expect(cliJsonError(both.stdout).code).toBe('VALIDATION_ERROR');
    const { existsSync } = await import('node:fs');
    expect(existsSync(dir)).toBe(false);
  }, 60_000);
});
