/**
 * Progress of long CLI work, as a user sees it: on a terminal (a real pseudo-TTY through
 * util-linux `script`) restore and verify print their phases and redraw a live status line;
 * on pipes they print plain phase lines without terminal escapes; with --json stdout is exactly
 * one JSON document and stderr stays silent, also on a terminal.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoRepository, pitrd, pitrdOnTty, removeTree, type DemoRepo } from './cli-fixture.js';
import { cliJson } from '../harness/index.js';

let demo: DemoRepo;
const LIVE = '\r\x1b[2K';
const LSN = '[0-9A-F]+/[0-9A-F]+';

beforeAll(async () => {
  demo = await demoRepository();
}, 180_000);

afterAll(() => {
  if (demo) removeTree(demo.root);
});

describe('pitrd restore progress', () => {
  it('on a TTY: plan, extract bytes done/total, WAL replay segments / LSN, target reached', async () => {
    const target = join(demo.root, 'tty-restore');
    const r = await pitrdOnTty(['-c', demo.config, 'restore', '--to-time', demo.summary.target_time, '--target-dir', target]);
    expect(r.exitCode, r.output).toBe(0);
    const o = r.output;
    expect(o).toMatch(new RegExp(`plan: backup ${demo.summary.backup.id} \\(start LSN ${LSN}\\), timeline 1, \\d+ archived WAL segment\\(s\\) from the backup on\\r\\n`));
    expect(o).toMatch(/extract: unpacking [\d.]+ MiB of base backup\r\n/);
    // The first update after a phase line is always drawn: extraction starts at 0 bytes.
    expect(o).toMatch(/\r\x1b\[2Kextract: base\.tar\S* 0 B \/ [\d.]+ MiB 0%/);
    expect(o).toContain('WAL replay: PostgreSQL is recovering to the target\r\n');
    expect(o).toMatch(/\r\x1b\[2KWAL replay: 0 \/ \d+ segment\(s\) restored, replay LSN -/);
    expect(o).toMatch(new RegExp(`target reached \\(promoted\\): [1-9]\\d* WAL segment\\(s\\) restored, replay LSN ${LSN}\\r\\n`));
    expect(o).toMatch(/restore rstr_\S+ completed from backup \S+: \d+ WAL files applied/);
    // The phases come in order, and the live line is cleared before each permanent line.
    const at = (s: string) => o.indexOf(s);
    expect(at('plan:')).toBeLessThan(at('extract: unpacking'));
    expect(at('extract: unpacking')).toBeLessThan(at('WAL replay: PostgreSQL'));
    expect(at('WAL replay: PostgreSQL')).toBeLessThan(at('target reached'));
    expect(at('target reached')).toBeLessThan(at('restore rstr_'));
    expect(o).toMatch(/\r\x1b\[2Ktarget reached/);
    expect(existsSync(join(target, 'PG_VERSION'))).toBe(true);
  }, 180_000);

  it('--json on a TTY: stdout is exactly the JSON summary, nothing on the terminal', async () => {
    const target = join(demo.root, 'tty-json-restore');
    const file = join(demo.root, 'restore.json');
    const r = await pitrdOnTty(['-c', demo.config, 'restore', '--to-time', demo.summary.target_time, '--target-dir', target, '--json'], { stdoutFile: file });
    expect(r.exitCode, r.output).toBe(0);
    expect(r.output).toBe('');
    const body = cliJson<{ restore: { status: string; backup_id: string }; data_dir: string }>(readFileSync(file, 'utf8'));
    expect(body.restore).toMatchObject({ status: 'completed', backup_id: demo.summary.backup.id });
    expect(body.data_dir).toBe(target);
  }, 180_000);

  it('not a TTY: one plain line per phase on stderr, no terminal escapes, the result on stdout', async () => {
    const target = join(demo.root, 'pipe-restore');
    const r = await pitrd(['-c', demo.config, 'restore', '--to-time', demo.summary.target_time, '--target-dir', target]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('\x1b[');
    expect(r.stderr).not.toContain('\r');
    const lines = r.stderr.trim().split('\n');
    expect(lines.map((l) => l.split(':')[0])).toEqual(['plan', 'extract', 'WAL replay', 'target reached (promoted)']);
    expect(r.stdout).toMatch(/^restore rstr_\S+ completed/);
    expect(r.stdout).not.toContain('plan:');
  }, 180_000);
});

describe('pitrd verify progress', () => {
  it('on a TTY: a line per phase and a live "segments checked / total" line', async () => {
    const r = await pitrdOnTty(['-c', demo.config, 'verify']);
    expect(r.exitCode, r.output).toBe(0);
    const o = r.output;
    expect(o).toContain('database demo: listing WAL segments, timeline histories and backups\r\n');
    expect(o).toMatch(/database demo: checking 1 backup\(s\) and the continuity of (\d+) WAL segment\(s\)\r\n/);
    const total = /re-reading (\d+) WAL segment\(s\) against their checksums\r\n/.exec(o)?.[1];
    expect(Number(total)).toBeGreaterThan(0);
    expect(o).toContain(`${LIVE}database demo: 1 / ${total} segment(s) checked`);
    expect(o).toMatch(new RegExp(`${LIVE.replace('[', '\\[')}database demo: OK — ${total} WAL segment\\(s\\)`));
  });

  it('--json on a TTY: stdout parses, the terminal shows nothing', async () => {
    const file = join(demo.root, 'verify.json');
    const r = await pitrdOnTty(['-c', demo.config, 'verify', '--json'], { stdoutFile: file });
    expect(r.exitCode, r.output).toBe(0);
    expect(r.output).toBe('');
    const body = cliJson<{ ok: boolean; databases: Array<{ database: string; segments_checked: number }> }>(readFileSync(file, 'utf8'));
    expect(body.ok).toBe(true);
    expect(body.databases[0]).toMatchObject({ database: 'demo' });
    expect(body.databases[0]!.segments_checked).toBeGreaterThan(0);
  });

  it('not a TTY: plain phase lines on stderr, the report alone on stdout', async () => {
    const r = await pitrd(['-c', demo.config, 'verify']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('\x1b[');
    expect(r.stderr.trim().split('\n')).toHaveLength(3);
    expect(r.stdout.trim()).toMatch(/^database demo: OK — \d+ WAL segment\(s\) on timeline\(s\) 1, \d+ re-read, 1 completed backup\(s\)$/);
  });
});
