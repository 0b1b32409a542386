import { describe, expect, it } from 'vitest';
import { createProgress, formatBytes, percent } from '../../src/cli/progress.js';

function sink(isTTY: boolean, columns?: number) {
  const chunks: string[] = [];
  return { stream: { isTTY, ...(columns !== undefined ? { columns } : {}), write: (s: string) => chunks.push(s) > 0 }, text: () => chunks.join('') };
}

describe('CLI progress renderer', () => {
  it('on a TTY: phase lines, and a live line redrawn in place and cleared before the next line', () => {
    const s = sink(true);
    let t = 0;
    const p = createProgress({ stream: s.stream, now: () => t });
    expect(p.live).toBe(true);
    p.phase('extract: unpacking 1.0 MiB');
    p.update('extract: 0 B / 1.0 MiB 0%');
    t = 50;
    p.update('dropped: drawn less than 100 ms after the previous one');
    t = 200;
    p.update('extract: 512.0 KiB / 1.0 MiB 50%');
    p.phase('WAL replay');
    p.done();
    expect(s.text()).toBe('extract: unpacking 1.0 MiB\n\r\x1b[2Kextract: 0 B / 1.0 MiB 0%\r\x1b[2Kextract: 512.0 KiB / 1.0 MiB 50%\r\x1b[2KWAL replay\n');
  });

  it('the first update after a phase line is always drawn', () => {
    const s = sink(true);
    const p = createProgress({ stream: s.stream, now: () => 0 });
    p.update('a');
    p.phase('next');
    p.update('b');
    expect(s.text()).toContain('\r\x1b[2Kb');
  });

  it('cuts the live line to the terminal width, so it can be redrawn', () => {
    const s = sink(true, 30);
    const p = createProgress({ stream: s.stream });
    p.update('x'.repeat(100));
    expect(s.text()).toBe(`\r\x1b[2K${'x'.repeat(28)}…`);
  });

  it('not a TTY: only the phase lines, no escapes', () => {
    const s = sink(false);
    const p = createProgress({ stream: s.stream });
    expect(p.live).toBe(false);
    p.phase('plan: backup b1');
    p.update('extract: 1 / 2');
    p.phase('target reached');
    p.done();
    expect(s.text()).toBe('plan: backup b1\ntarget reached\n');
  });

  it('--json: nothing at all, TTY or not', () => {
    for (const tty of [true, false]) {
      const s = sink(tty);
      const p = createProgress({ stream: s.stream, json: true });
      p.phase('plan');
      p.update('x');
      p.done();
      expect(s.text()).toBe('');
    }
  });

  it('formats bytes and percentages for humans', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(22.4 * 1048576)).toBe('22.4 MiB');
    expect(percent(1, 4)).toBe('25%');
    expect(percent(5, 4)).toBe('100%');
    expect(percent(1, null)).toBe('');
    expect(percent(1, 0)).toBe('');
  });
});
