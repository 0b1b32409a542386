/**
 * README accuracy: every `pitrd …` usage in the README's code (inline spans and fenced blocks)
 * names commands and options the CLI has, every bare `--flag` it mentions is an option of some
 * pitrd command (or listed below as another tool's), every `npm run` script exists and every
 * repository path it names is there.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command, Option } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.js';

const ROOT = join(import.meta.dirname, '..', '..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
/** The README and the documents it links: the CLI usages of all of them are checked. */
const DOCS = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

/** Flags the README mentions that belong to other tools (docker, pgBackRest). */
const OTHER_TOOLS_FLAGS = new Set(['--init', '--delta']);

/** Code the README shows: inline spans and the lines of fenced blocks, with their line number. */
export function codeSnippets(md: string): Array<{ line: number; text: string; inline: boolean }> {
  const out: Array<{ line: number; text: string; inline: boolean }> = [];
  let fenced: string | null = null;
  md.split('\n').forEach((l, i) => {
    const fence = /^\s*```\s*(\w*)/.exec(l);
    if (fence) {
      fenced = fenced === null ? fence[1]! : null;
      return;
    }
    // Only shell blocks hold commands (in SQL or pg_hba.conf, pitrd is a role name).
    if (fenced !== null && !['sh', 'bash', 'shell', 'console'].includes(fenced)) return;
    // A shell comment in a block is prose (it may quote commands in backticks).
    if (fenced !== null) out.push({ line: i + 1, text: l.replace(/(^|\s)#.*$/, '').trim(), inline: false });
    else for (const m of l.matchAll(/`([^`]+)`/g)) out.push({ line: i + 1, text: m[1]!, inline: true });
  });
  return out;
}

/** Shell words of the pitrd invocations in a snippet (up to a comment, pipe, `;`, `&&`, `||` or redirect). */
export function pitrdInvocations(text: string): string[][] {
  const found: string[][] = [];
  const words = text.match(/'[^']*'|"[^"]*"|\S+/g) ?? [];
  for (let i = 0; i < words.length; i++) {
    if (words[i] !== 'pitrd') continue;
    // `docker build -t pitrd .`: an image tag, not the CLI.
    if (['-t', '--tag'].includes(words[i - 1] ?? '')) continue;
    const args: string[] = [];
    for (let j = i + 1; j < words.length; j++) {
      const w = words[j]!;
      if (w.startsWith('#') || ['|', ';', '&&', '||'].includes(w) || /^\d?>/.test(w)) break;
      args.push(w);
    }
    found.push(args);
  }
  return found;
}

const takesValue = (o: Option) => o.required || o.optional;
const findOption = (cmd: Command, flag: string) => cmd.options.find((o) => o.long === flag || o.short === flag);
const isPlaceholder = (w: string) => /^[<…]/.test(w) || w.includes('…') || w === '...';

/** Problems with one invocation's words against the program (empty: it is right). */
export function checkInvocation(program: Command, words: string[]): string[] {
  const problems: string[] = [];
  let cmd = program;
  let i = 0;
  const globalFlag = (w: string) => ['-h', '--help', '-V', '--version'].includes(w) || findOption(program, w.split('=')[0]!);
  // Global options before the command.
  while (i < words.length && words[i]!.startsWith('-')) {
    const o = findOption(program, words[i]!.split('=')[0]!);
    if (!o && !globalFlag(words[i]!)) problems.push(`unknown global option ${words[i]}`);
    i += o && takesValue(o) && !words[i]!.includes('=') ? 2 : 1;
  }
  // Commands and subcommands; "a / b / c" names siblings.
  while (i < words.length && cmd.commands.length > 0 && !isPlaceholder(words[i]!)) {
    const name = words[i]!;
    const sub = cmd.commands.find((c) => c.name() === name || c.aliases().includes(name));
    if (!sub) {
      problems.push(`"${[...path(cmd), name].join(' ')}" is not a command (has: ${cmd.commands.map((c) => c.name()).join(', ')})`);
      return problems;
    }
    i++;
    while (words[i] === '/' && words[i + 1] !== undefined) {
      const alt = words[i + 1]!;
      if (!cmd.commands.some((c) => c.name() === alt)) problems.push(`"${[...path(cmd), alt].join(' ')}" is not a command`);
      i += 2;
    }
    cmd = sub;
  }
  // Options of the command; other words are its arguments or placeholders.
  for (; i < words.length; i++) {
    const w = words[i]!;
    if (!w.startsWith('-') || w === '-') continue;
    const flag = w.split('=')[0]!;
    const o = findOption(cmd, flag) ?? findOption(program, flag);
    if (!o && !['-h', '--help'].includes(flag)) problems.push(`"${path(cmd).join(' ')}" has no option ${flag}`);
    else if (o && takesValue(o) && !w.includes('=')) i++;
  }
  return problems;
}

function path(cmd: Command): string[] {
  const p: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) p.unshift(c.name());
  return p;
}

function allOptions(cmd: Command): Set<string> {
  const s = new Set<string>();
  const walk = (c: Command) => {
    for (const o of c.options) {
      if (o.long) s.add(o.long);
      if (o.short) s.add(o.short);
    }
    c.commands.forEach(walk);
  };
  walk(cmd);
  return s;
}

describe('README accuracy', () => {
  const program = buildProgram();
  const snippets = codeSnippets(README);

  it('every `pitrd …` usage names existing commands and options (README and docs/)', () => {
    const usages = DOCS.flatMap((file) => codeSnippets(readFileSync(join(ROOT, file), 'utf8')).flatMap((s) => pitrdInvocations(s.text).map((words) => ({ ...s, file, words }))));
    // The README shows every command at least once.
    const shown = new Set(usages.map((u) => u.words.find((w) => !w.startsWith('-') && !w.endsWith('.yaml'))));
    for (const c of program.commands) expect(shown.has(c.name()) || README.includes(`pitrd ${c.name()}`), `README never shows pitrd ${c.name()}`).toBe(true);
    expect(usages.length).toBeGreaterThan(20);
    const problems = usages.flatMap((u) => checkInvocation(program, u.words).map((p) => `${u.file}:${u.line}: ${p} (in \`${u.text}\`)`));
    expect(problems).toEqual([]);
  });

  it('every bare option it mentions is an option of some pitrd command', () => {
    const known = allOptions(program);
    const bad: string[] = [];
    for (const s of snippets.filter((x) => x.inline)) {
      const m = /^(--?[a-zA-Z][\w-]*)(?:\/(--[\w-]+))?/.exec(s.text);
      if (!m) continue;
      for (const flag of [m[1]!, m[2]].filter((f): f is string => f !== undefined)) {
        if (!known.has(flag) && !OTHER_TOOLS_FLAGS.has(flag)) bad.push(`README.md:${s.line}: ${flag}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('every `npm run` script exists and every repository path it names is there', () => {
    const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    const runs = [...README.matchAll(/npm run ([\w:-]+)/g)].map((m) => m[1]!);
    expect(runs.length).toBeGreaterThan(0);
    for (const r of runs) expect(scripts, `npm run ${r}`).toHaveProperty([r]);
    const paths = new Set(snippets.flatMap((s) => [...s.text.matchAll(/(?:^|[\s(])((?:src|docker|docs|bench|test|\.ci)\/[\w./*-]*[\w*])/g)].map((m) => m[1]!)));
    paths.add('docs/postgres-setup.md');
    const missing = [...paths].filter((p) => !exists(p));
    expect(missing).toEqual([]);
  });

  it("the README's command table lists exactly pitrd's commands (against `pitrd --help`)", () => {
    const program = buildProgram();
    // A command that runs (no subcommands, or an action of its own like `backup`) is a row.
    const runs = (c: Command) => c.commands.length === 0 || (c as unknown as { _actionHandler: unknown })._actionHandler != null;
    const leaves = (cmd: Command, prefix: string[] = []): string[] =>
      cmd.commands.flatMap((c) => [...(runs(c) ? [[...prefix, c.name()].join(' ')] : []), ...leaves(c, [...prefix, c.name()])]);
    const real = leaves(program).sort();
    // Rows like `pitrd token create / list / revoke` stand for one leaf per word after the slash.
    const rows = [...README.matchAll(/^\| `pitrd ([a-z -]+(?: \/ [a-z-]+)*)` \|/gm)].flatMap((m) => {
      const [first, ...rest] = m[1]!.split(' / ');
      const words = first!.split(' ');
      const parent = words.slice(0, -1).join(' ');
      return [first!, ...rest.map((r) => (parent ? `${parent} ${r}` : r))];
    });
    expect([...new Set(rows)].sort()).toEqual(real);
  });

  it('the parser finds what it must (a README mistake would not slip through)', () => {
    expect(checkInvocation(program, ['-c', 'x.yaml', 'restore', '--to-time', 't', '--target-dir', 'd'])).toEqual([]);
    expect(checkInvocation(program, ['token', 'create', '/', 'list', '/', 'revoke'])).toEqual([]);
    expect(checkInvocation(program, ['token', 'revoke', '<id>', '--json'])).toEqual([]);
    expect(checkInvocation(program, ['restore', '--to-timestamp', 't'])).toEqual(['"pitrd restore" has no option --to-timestamp']);
    expect(checkInvocation(program, ['backups', 'list'])[0]).toMatch(/"pitrd backups" is not a command/);
    expect(checkInvocation(program, ['token', 'create', '/', 'delete'])).toEqual(['"pitrd token delete" is not a command']);
    expect(pitrdInvocations('docker build -f docker/Dockerfile -t pitrd .')).toEqual([]);
    expect(pitrdInvocations("npx pitrd token create --project '*' # note")).toEqual([['token', 'create', '--project', "'*'"]]);
    expect(pitrdInvocations('docker compose run --rm pitrd config check')).toEqual([['config', 'check']]);
  });
});

/** A path, possibly with one `*` in its last part. */
function exists(p: string): boolean {
  if (!p.includes('*')) return existsSync(join(ROOT, p));
  const dir = p.slice(0, p.lastIndexOf('/'));
  const re = new RegExp(`^${p.slice(p.lastIndexOf('/') + 1).replace(/[.]/g, '\\.').replace(/\*/g, '.*')}$`);
  return existsSync(join(ROOT, dir)) && readdirSync(join(ROOT, dir)).some((f) => re.test(f));
}
