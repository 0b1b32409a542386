/**
 * The process that owns something on this host (a lock file, a running record, a restore's
 * directory), written down so that another process can tell later whether that owner is still
 * there: its PID, its start time (so a PID reused by an unrelated process is not taken for it) and
 * the host. The one liveness rule for all of them.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

export interface ProcessOwner {
  pid: number;
  /** /proc/<pid>/stat start time (clock ticks since boot), or null where there is no /proc. */
  started: string | null;
  host: string;
}

function statFields(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** Field 22 of /proc/<pid>/stat, or null (no /proc, or no such process). */
export function processStartTime(pid: number): string | null {
  return statFields(pid)?.[19] ?? null;
}

/** This process, as an owner to write down. */
export function currentOwner(): ProcessOwner {
  return { pid: process.pid, started: processStartTime(process.pid), host: hostname() };
}

/** True when `host` is this machine (an owner elsewhere cannot be checked from here). */
export function isThisHost(host: string): boolean {
  return host === hostname();
}

/**
 * Whether the process with this PID (and, when known, this start time) still runs on this host.
 * A zombie (killed, not yet reaped) is gone; a process of another user (EPERM) is there.
 */
export function processAlive(pid: number, started: string | null = null): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const fields = statFields(pid);
  if (fields?.[0] === 'Z') return false;
  if (started === null) return true;
  const now = fields?.[19] ?? null;
  return now === null || now === started;
}

/**
 * Whether an owner read back from storage is gone for sure: on this host, and its process is not
 * running (or its PID now belongs to a later process). Another host's owner is never gone from
 * here: nothing it owns is taken over.
 */
export function ownerGone(owner: unknown): boolean {
  if (typeof owner !== 'object' || owner === null) return false;
  const o = owner as { pid?: unknown; host?: unknown; started?: unknown };
  if (typeof o.pid !== 'number' || !Number.isInteger(o.pid) || o.pid <= 0 || typeof o.host !== 'string') return false;
  if (!isThisHost(o.host) || o.pid === process.pid) return false;
  return !processAlive(o.pid, typeof o.started === 'string' ? o.started : null);
}
