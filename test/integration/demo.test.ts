/**
 * `pitrd demo` as a user runs it: a child process with no config. It must exit 0 after proving
 * the restore exact, print one line per step, and leave no PostgreSQL process and no temp dir
 * behind, also when interrupted with SIGINT half-way.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { cliJson } from '../harness/index.js';

const ROOT = join(import.meta.dirname, '..', '..');
// One process (node with the tsx loader), not the tsx binary: that one runs the CLI in a child
// and relays signals to it, so a SIGINT could end the wrapper (exit 130) instead of the demo.
const NODE_TSX = ['--import', import.meta.resolve('tsx')];
const MAIN = join(ROOT, 'src', 'cli', 'main.ts');
const roots: string[] = [];

/** PIDs of live processes whose command line mentions `needle` (e.g. a demo's temp dir). */
function processesMentioning(needle: string): number[] {
  const found: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(needle)) found.push(Number(e));
    } catch {
      /* exited meanwhile */
    }
  }
  return found;
}

/** Running: a zombie waiting for init to reap it is not (it holds no port, files or memory). */
function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

afterAll(() => {
  // Only if a test failed half-way: never leave a cluster of ours running.
  for (const r of roots) {
    for (const pid of processesMentioning(r)) process.kill(pid, 'SIGKILL');
    rmSync(r, { recursive: true, force: true });
  }
});

describe('pitrd demo', () => {
  it('runs the whole story, proves the restore exact, and cleans up every process and directory', async () => {
    const res = await execa(process.execPath, [...NODE_TSX, MAIN, 'demo', '--json', '--rows', '50'], { cwd: ROOT, reject: false });
    const root = /working directory (\S+)/.exec(res.stderr)?.[1];
    if (root) roots.push(root);
    expect(res.exitCode, res.stderr).toBe(0);
    const lines = res.stderr.split('\n');
    for (const pattern of [
      /started PostgreSQL 15 \(pid \d+\)/,
      /WAL receiver streaming into repository/,
      /base backup \S+ taken: start LSN [0-9A-F]+\/[0-9A-F]+, stop LSN [0-9A-F]+\/[0-9A-F]+/,
      /step 1: committed 50 rows by \S+Z, WAL at LSN [0-9A-F]+\/[0-9A-F]+/,
      /step 2: committed 50 rows/,
      /recovery target chosen: \S+Z \(after step 2, before step 3\)/,
      /step 3: committed 50 rows/,
      /restore \S+ from backup \S+ recovered to/,
      /restored rows per step: \{"1":50,"2":50\}; expected \{"1":50,"2":50\}: EXACT/,
    ]) {
      expect(lines.some((l) => pattern.test(l)), `a line matching ${pattern}`).toBe(true);
    }
    const summary = cliJson(res.stdout) as { ok: boolean; root: string; kept: boolean; pids: number[]; restored_rows: Record<string, number>; target_time: string; steps: Array<{ committed_before: string }> };
    expect(summary.ok).toBe(true);
    expect(summary.root).toBe(root);
    expect(summary.kept).toBe(false);
    expect(summary.restored_rows).toEqual({ '1': 50, '2': 50 });
    expect(Date.parse(summary.target_time)).toBeGreaterThan(Date.parse(summary.steps[1]!.committed_before));
    expect(summary.pids).toHaveLength(2);
    for (const pid of summary.pids) expect(alive(pid), `postmaster ${pid}`).toBe(false);
    expect(existsSync(summary.root)).toBe(false);
    expect(processesMentioning(summary.root)).toEqual([]);
  }, 180_000);

  it('on SIGINT half-way it stops what it started, removes its directory and exits non-zero', async () => {
    const child = execa(process.execPath, [...NODE_TSX, MAIN, 'demo'], { cwd: ROOT, reject: false });
    let stdout = '';
    let root = '';
    await new Promise<void>((resolveP, reject) => {
      child.stdout!.on('data', (b: Buffer) => {
        stdout += b.toString();
        root ||= /working directory (\S+)/.exec(stdout)?.[1] ?? '';
        // Interrupt once the source cluster and the receiver are both running.
        if (/WAL receiver streaming/.test(stdout)) resolveP();
      });
      child.once('exit', () => reject(new Error(`demo exited before the receiver started: ${stdout}`)));
    });
    roots.push(root);
    child.kill('SIGINT');
    const res = await child;
    expect(res.exitCode).toBe(1);
    expect(res.stderr).toContain('SIGINT received, cleaning up');
    expect(res.stderr).toContain('DEMO_FAILED');
    expect(existsSync(root)).toBe(false);
    expect(processesMentioning(root)).toEqual([]);
  }, 180_000);
});
