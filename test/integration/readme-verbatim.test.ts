/**
 * The README's commands, run verbatim on a fresh copy of the repository, work.
 *
 * The blocks meant to be run are marked in README.md with `<!-- verbatim-test -->` on the line
 * before their ```sh fence (`<!-- verbatim-test: skip "npm test" -->` leaves out commands that
 * start with the quoted text). They run in README order in ONE bash session (as a reader pasting
 * them into a terminal would) with `set -e`, in a copy of the tracked and new files (what a fresh
 * clone plus the working tree's changes holds: no node_modules, no dist), with no PITRD_*
 * variables and no config. The first block is the quick start: `npm ci && npx pitrd demo`.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, existsSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { processesMentioning, removeTree, ROOT } from './cli-fixture.js';

interface VerbatimBlock {
  line: number;
  commands: string[];
  skipped: string[];
}

/** The marked ```sh blocks, continuation lines joined, skipped commands set apart. */
function verbatimBlocks(markdown: string): VerbatimBlock[] {
  const lines = markdown.split('\n');
  const blocks: VerbatimBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^<!--\s*verbatim-test(?::\s*(.*?))?\s*-->\s*$/.exec(lines[i]!);
    if (!m) continue;
    const skips = [...(m[1] ?? '').matchAll(/skip\s+"([^"]+)"/g)].map((s) => s[1]!);
    if (!/^```(sh|bash)\s*$/.test(lines[i + 1] ?? '')) throw new Error(`README.md:${i + 1}: verbatim-test marker not followed by a \`\`\`sh fence`);
    const block: VerbatimBlock = { line: i + 3, commands: [], skipped: [] };
    let cmd = '';
    for (i += 2; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) {
      cmd += lines[i]!;
      if (cmd.endsWith('\\')) {
        cmd += '\n';
        continue;
      }
      if (cmd.trim() !== '') (skips.some((s) => cmd.trim().startsWith(s)) ? block.skipped : block.commands).push(cmd);
      cmd = '';
    }
    blocks.push(block);
  }
  return blocks;
}

/** A fresh copy: tracked files plus new, not ignored ones, as they are in the working tree. */
function freshCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pitrd-readme-'));
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' }).split('\0').filter(Boolean);
  for (const f of files) {
    // A tracked file deleted in the working tree is not part of the copy.
    if (!existsSync(join(ROOT, f))) continue;
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    copyFileSync(join(ROOT, f), join(dir, f));
  }
  return dir;
}

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
let copy = '';
afterAll(() => {
  if (copy) removeTree(copy);
});

describe('README commands, verbatim', () => {
  const blocks = verbatimBlocks(readme);

  it('marks the quick start, and leaves out only `npm test`', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(3);
    expect(blocks[0]!.commands[0]).toMatch(/^npm ci && npx pitrd demo\b/);
    expect(blocks.flatMap((b) => b.skipped).map((c) => c.split('#')[0]!.trim())).toEqual(['npm test']);
  });

  it('run in order in one shell on a fresh copy of the repository, and succeed', async () => {
    copy = freshCopy();
    expect(existsSync(join(copy, 'node_modules'))).toBe(false);
    const script = ['set -e', ...blocks.flatMap((b) => [`echo "=== README.md:${b.line}" >&2`, ...b.commands])].join('\n');
    // A reader's shell: none of pitrd's variables, nor what the surrounding `npm test` / vitest set.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(PITRD_|VITEST|npm_)/i.test(k) && !['NODE_OPTIONS', 'TEST', 'INIT_CWD', 'NODE_ENV'].includes(k)));
    const r = await execa('bash', ['-c', script], { cwd: copy, env, extendEnv: false, reject: false, all: true });
    // Colours, if the environment forces them, are not part of what is checked.
    const log = (r.all ?? '').replace(/\x1b\[[0-9;]*m/g, '');
    expect(r.exitCode, log.slice(-6000)).toBe(0);
    // What each command promises, seen in its output.
    expect(log).toMatch(/restored rows per step: \{"1":100,"2":100\}; expected \{"1":100,"2":100\}: EXACT/);
    expect(log).toMatch(/demo OK: restored exactly steps 1-2 of 3/);
    expect(log).toContain('Usage: pitrd');
    expect(log).toContain('# configuration is valid (defaults + environment)');
    expect(log).toMatch(/token: pitrd_\S+/);
    expect(log).toMatch(/"name": "admin"/);
    expect(log).toContain(`# configuration is valid (${join(copy, 'docker', 'pitrd.example.yaml')})`);
    expect(log).toContain('api.listen.port (from PITRD_API_PORT): expected a number from 1 to 65535, got "seventy"');
    expect(log).toContain('refused, as it should be');
    expect(log).toMatch(/Test Files\s+\S*1 passed/);
    // The demo cleaned up after itself in the copy too.
    expect(processesMentioning(copy)).toEqual([]);
  }, 600_000);
});
