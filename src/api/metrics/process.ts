/**
 * Process and Node runtime series under the names every Prometheus client library uses
 * (`process_*`, `nodejs_*`), so the dashboards and alerts people already have for Node services
 * work on pitrd unchanged. Linux facts come from /proc; where /proc is missing those series are
 * simply absent rather than zero.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { getHeapSpaceStatistics } from 'node:v8';
import type { MetricsRegistry } from './registry.js';

function procStatVirtualBytes(): number | null {
  try {
    // Fields after the command name (which may hold spaces, so split after its closing ')').
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[20]); // vsize (field 23 of proc(5)), already in bytes
  } catch {
    return null;
  }
}

function openFds(): number | null {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return null;
  }
}

function maxFds(): number | null {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined || soft === 'unlimited' ? null : Number(soft);
  } catch {
    return null;
  }
}

export function registerProcessMetrics(metrics: MetricsRegistry, version: string): void {
  const cpuUser = metrics.counter('process_cpu_user_seconds_total', 'User CPU time spent by the process, all threads, in seconds');
  const cpuSystem = metrics.counter('process_cpu_system_seconds_total', 'System CPU time spent by the process, all threads, in seconds');
  const cpu = metrics.counter('process_cpu_seconds_total', 'User and system CPU time spent by the process, all threads, in seconds');
  const start = metrics.gauge('process_start_time_seconds', 'Start time of the process since the Unix epoch, in seconds');
  const rss = metrics.gauge('process_resident_memory_bytes', 'Resident memory size of the process, in bytes');
  const vsize = metrics.gauge('process_virtual_memory_bytes', 'Virtual memory size of the process, in bytes');
  const fds = metrics.gauge('process_open_fds', 'Open file descriptors of the process');
  const fdLimit = metrics.gauge('process_max_fds', 'Limit of open file descriptors of the process');
  const heapTotal = metrics.gauge('nodejs_heap_size_total_bytes', 'V8 heap size of the main thread, in bytes');
  const heapUsed = metrics.gauge('nodejs_heap_size_used_bytes', 'V8 heap used by the main thread, in bytes');
  const external = metrics.gauge('nodejs_external_memory_bytes', 'Memory of C++ objects bound to JavaScript objects (Buffers), in bytes');
  const arrayBuffers = metrics.gauge('nodejs_array_buffers_bytes', 'Memory of ArrayBuffers and SharedArrayBuffers, including Buffers, in bytes');
  const space = metrics.gauge('nodejs_heap_space_size_used_bytes', 'V8 heap used by the main thread, per heap space, in bytes', ['space']);
  const resources = metrics.gauge('nodejs_active_resources', 'Resources keeping the event loop alive, by type (sockets, timers, file handles)', ['type']);
  const info = metrics.gauge('pitrd_build_info', 'Always 1: the pitrd version and the Node.js version running it', ['version', 'nodejs_version']);
  info.set({ version, nodejs_version: process.versions.node }, 1);
  start.set(undefined, Math.round(Date.now() / 1000 - process.uptime()));
  let previousTypes: string[] = [];

  metrics.collect(() => {
    const u = process.cpuUsage();
    cpuUser.setTotal(undefined, u.user / 1e6);
    cpuSystem.setTotal(undefined, u.system / 1e6);
    cpu.setTotal(undefined, (u.user + u.system) / 1e6);
    const m = process.memoryUsage();
    rss.set(undefined, m.rss);
    heapTotal.set(undefined, m.heapTotal);
    heapUsed.set(undefined, m.heapUsed);
    external.set(undefined, m.external);
    arrayBuffers.set(undefined, m.arrayBuffers);
    const vs = procStatVirtualBytes();
    if (vs !== null && Number.isFinite(vs)) vsize.set(undefined, vs);
    const open = openFds();
    if (open !== null) fds.set(undefined, open);
    const limit = maxFds();
    if (limit !== null && Number.isFinite(limit)) fdLimit.set(undefined, limit);
    for (const s of getHeapSpaceStatistics()) space.set({ space: s.space_name }, s.space_used_size);
    const counts = new Map<string, number>();
    for (const t of process.getActiveResourcesInfo()) counts.set(t, (counts.get(t) ?? 0) + 1);
    for (const t of previousTypes) if (!counts.has(t)) resources.remove({ type: t });
    for (const [t, n] of counts) resources.set({ type: t }, n);
    previousTypes = [...counts.keys()];
  });
}
