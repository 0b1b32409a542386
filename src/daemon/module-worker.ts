/**
 * Start a worker thread running one of pitrd's own modules. From dist/ the module is JavaScript
 * and is imported as is; from the TypeScript sources (tsx, vitest) the worker first registers
 * tsx's loader, which a worker does not inherit from its parent, then imports the .ts module.
 */
import { readlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { setPriority } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * `sibling` is the module's base name next to the caller (`import.meta.url`), without extension:
 * the caller's own extension (.ts or .js) is used, so sources and dist/ each load their own.
 */
export function startModuleWorker(callerUrl: string, sibling: string, opts: Omit<WorkerOptions, 'eval'> = {}): Worker {
  const ext = callerUrl.endsWith('.ts') ? '.ts' : '.js';
  const url = new URL(`./${sibling}${ext}`, callerUrl).href;
  if (ext === '.js') return new Worker(new URL(url), opts);
  // tsx's ESM API (its CommonJS build cannot register the ESM hooks from a worker).
  const tsxApi = pathToFileURL(createRequire(fileURLToPath(callerUrl)).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
  // Plain CommonJS evaluated by the worker: register tsx, then load the module.
  const source = `import(${JSON.stringify(tsxApi)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(url)}); }).catch((err) => { process.nextTick(() => { throw err; }); });`;
  return new Worker(source, { ...opts, eval: true });
}

/**
 * Lower the calling thread's CPU priority (Linux: a nice value per thread, found through
 * /proc/thread-self). For background work that must not take the CPU from the event loop or the
 * receivers when the machine is saturated. Raising a nice value needs no privilege; elsewhere, or
 * if it fails, nothing changes.
 */
export function lowerThreadPriority(nice: number): boolean {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isInteger(tid) || tid <= 0) return false;
    setPriority(tid, nice);
    return true;
  } catch {
    return false;
  }
}
