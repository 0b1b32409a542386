import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { currentOwner, ownerGone, processAlive, processStartTime } from '../../src/process-owner.js';

/** A PID that does not run here (the highest Linux hands out, never this test's). */
const DEAD = 4_194_303;

describe('process owner liveness (src/process-owner.ts)', () => {
  it('this process and its parent are alive; a PID no process has is not', () => {
    const me = currentOwner();
    expect(me).toMatchObject({ pid: process.pid, host: hostname() });
    expect(processAlive(process.ppid)).toBe(true);
    expect(processAlive(process.pid, me.started)).toBe(true);
    expect(processAlive(DEAD)).toBe(false);
  });

  it('a live PID with another start time is a reused PID: gone', () => {
    const started = processStartTime(process.ppid);
    if (started === null) return; // no /proc here: the start time cannot be told
    expect(processAlive(process.ppid, `${started}1`)).toBe(false);
  });

  it('only an owner on this host whose process is gone is gone; this process, another host, or anything malformed never', () => {
    expect(ownerGone({ pid: DEAD, host: hostname(), started: null })).toBe(true);
    expect(ownerGone({ pid: process.ppid, host: hostname() })).toBe(false);
    expect(ownerGone({ pid: process.pid, host: hostname() })).toBe(false);
    expect(ownerGone({ pid: DEAD, host: `not-${hostname()}` })).toBe(false);
    for (const bad of [null, undefined, 'x', {}, { pid: '1', host: hostname() }, { pid: -1, host: hostname() }, { pid: DEAD }]) expect(ownerGone(bad)).toBe(false);
  });
});
