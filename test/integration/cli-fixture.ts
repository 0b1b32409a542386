/**
 * The real CLI as a child process (through tsx, so tests do not depend on a build), with a clean
 * PITRD_* environment, either on pipes or on a pseudo-terminal (util-linux `script`), plus a
 * repository made by `pitrd demo --keep` (a database with a backup and archived WAL).
 */
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { cliJson } from '../harness/index.js';

export const ROOT = join(import.meta.dirname, '..', '..');
const MAIN = join(ROOT, 'src', 'cli', 'main.ts');

function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k, v]) => !k.startsWith('PITRD_') && v !== undefined)) as Record<string, string>;
  return { ...base, ...extra };
}

export function pitrdArgv(args: string[]): string[] {
  return [process.execPath, '--import', import.meta.resolve('tsx'), MAIN, ...args];
}

/** stdout and stderr on pipes: not a TTY. */
export function pitrd(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  const [bin, ...rest] = pitrdArgv(args);
  return execa(bin!, rest, { cwd: opts.cwd ?? ROOT, env: cleanEnv(opts.env), extendEnv: false, reject: false });
}

const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * On a pseudo-terminal: stdout and stderr are a TTY, both captured as `output` (with the \r of
 * the terminal). `stdoutFile` redirects stdout alone to a file, so stderr stays the TTY.
 */
export async function pitrdOnTty(args: string[], opts: { stdoutFile?: string; cwd?: string } = {}): Promise<{ exitCode: number; output: string }> {
  const cmd = pitrdArgv(args).map(shq).join(' ') + (opts.stdoutFile ? ` > ${shq(opts.stdoutFile)}` : '');
  const r = await execa('script', ['-qec', cmd, '/dev/null'], { cwd: opts.cwd ?? ROOT, env: cleanEnv({ TERM: 'xterm', COLUMNS: '120' }), extendEnv: false, reject: false, stdin: 'ignore' });
  return { exitCode: r.exitCode ?? -1, output: String(r.stdout) };
}

export interface DemoRepo {
  root: string;
  config: string;
  summary: { target_time: string; backup: { id: string }; steps: Array<{ committed_before: string }> };
  demoStdout: string;
}

/** `pitrd demo --keep --json`: its kept repository, and a config file that points at it. */
export async function demoRepository(): Promise<DemoRepo> {
  const r = await pitrd(['demo', '--keep', '--json', '--rows', '20']);
  const root = /working directory (\S+)/.exec(r.stderr)?.[1];
  if (r.exitCode !== 0 || !root) {
    if (root) rmSync(root, { recursive: true, force: true });
    throw new Error(`pitrd demo failed: ${r.stderr}`);
  }
  const config = join(root, 'pitrd.yaml');
  writeFileSync(config, `storage:\n  type: fs\n  path: ${join(root, 'repository')}\n`);
  return { root, config, summary: cliJson<DemoRepo['summary']>(r.stdout), demoStdout: r.stdout };
}

/** PIDs of live processes whose command line mentions `needle`. */
export function processesMentioning(needle: string): number[] {
  const found: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, 'utf8');
      const state = readFileSync(`/proc/${e}/status`, 'utf8');
      if (cmd.includes(needle) && !/^State:\s+Z/m.test(state)) found.push(Number(e));
    } catch {
      /* exited meanwhile */
    }
  }
  return found;
}

/** Remove a test's directory, first killing anything of ours still running from it. */
export function removeTree(dir: string): void {
  for (const pid of processesMentioning(dir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  rmSync(dir, { recursive: true, force: true });
}
