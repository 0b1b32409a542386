import { describe, expect, it } from 'vitest';
import { PitrdError } from '../../src/errors.js';
import { classifyPgError } from '../../src/postgres/index.js';

/** What pg throws for a server ErrorResponse: an Error with the SQLSTATE as code. */
const pgErr = (code: string, message: string) => Object.assign(new Error(message), { code, severity: 'FATAL' });

describe('classifyPgError (the one map for every source connection)', () => {
  it('3D000: the database does not exist, permanent (the server answered: not a network problem)', () => {
    const e = classifyPgError(pgErr('3D000', 'database "nope" does not exist'), 'connection to h:1/nope');
    expect(e.code).toBe('POSTGRES_DATABASE_NOT_FOUND');
    expect(e.retryable).toBe(false);
    expect(e.message).toBe('connection to h:1/nope: database does not exist (database "nope" does not exist)');
    expect(e.context).toMatchObject({ sqlstate: '3D000', server_message: 'database "nope" does not exist' });
  });

  it('53300: max_wal_senders = 0 is configuration (permanent); all slots busy is passing (retryable)', () => {
    const none = classifyPgError(pgErr('53300', 'number of requested standby connections exceeds max_wal_senders (currently 0)'), 'h:1');
    expect(none.code).toBe('REPLICATION_NOT_PERMITTED');
    expect(none.retryable).toBe(false);
    const busy = classifyPgError(pgErr('53300', 'number of requested standby connections exceeds max_wal_senders (currently 10)'), 'h:1');
    expect(busy.code).toBe('REPLICATION_ERROR');
    expect(busy.retryable).toBe(true);
    expect(busy.message).toMatch(/no connection slot free/);
    const full = classifyPgError(pgErr('53300', 'sorry, too many clients already'), 'h:1');
    expect([full.code, full.retryable]).toEqual(['REPLICATION_ERROR', true]);
  });

  it('55000: only the configuration messages are permanent', () => {
    const slots = classifyPgError(pgErr('55000', 'replication slots can only be used if max_replication_slots > 0'), 'CREATE_REPLICATION_SLOT');
    expect([slots.code, slots.retryable]).toEqual(['REPLICATION_NOT_PERMITTED', false]);
    const level = classifyPgError(pgErr('55000', 'WAL level not sufficient for making an online backup'), 'BASE_BACKUP');
    expect([level.code, level.retryable]).toEqual(['REPLICATION_NOT_PERMITTED', false]);
    const passing = classifyPgError(pgErr('55000', 'WAL generated with full_page_writes=off was replayed since last restartpoint'), 'BASE_BACKUP');
    expect([passing.code, passing.retryable]).toEqual(['REPLICATION_ERROR', true]);
  });

  it('authentication, authorization and rights are permanent', () => {
    expect(classifyPgError(pgErr('28P01', 'password authentication failed for user "x"'), 'h:1').code).toBe('POSTGRES_AUTH_FAILED');
    const hba = classifyPgError(pgErr('28000', 'no pg_hba.conf entry for replication connection'), 'h:1');
    expect([hba.code, hba.retryable]).toEqual(['REPLICATION_NOT_PERMITTED', false]);
    const role = classifyPgError(pgErr('42501', 'permission denied to start WAL sender'), 'h:1');
    expect([role.code, role.retryable]).toEqual(['REPLICATION_NOT_PERMITTED', false]);
  });

  it('58P01: the server removed the WAL asked for', () => {
    const e = classifyPgError(pgErr('58P01', 'requested WAL segment 000000010000000000000003 has already been removed'), 'START_REPLICATION');
    expect([e.code, e.retryable]).toEqual(['WAL_GAP', true]);
  });

  it('network failures are POSTGRES_UNREACHABLE and retryable; a PitrdError passes through untouched', () => {
    const reset = classifyPgError(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }), 'h:1');
    expect([reset.code, reset.retryable]).toEqual(['POSTGRES_UNREACHABLE', true]);
    const ended = classifyPgError(new Error('Connection terminated unexpectedly'), 'h:1');
    expect([ended.code, ended.retryable]).toEqual(['POSTGRES_UNREACHABLE', true]);
    const shutdown = classifyPgError(pgErr('57P01', 'terminating connection due to administrator command'), 'h:1');
    expect([shutdown.code, shutdown.retryable]).toEqual(['REPLICATION_ERROR', true]);
    const own = new PitrdError('POSTGRES_TLS_FAILED', 'x');
    expect(classifyPgError(own, 'h:1')).toBe(own);
  });
});
