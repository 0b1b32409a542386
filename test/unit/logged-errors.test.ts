import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createApiLogger } from '../../src/api/index.js';
import { loggedError, PitrdError } from '../../src/errors.js';

function capture(): { lines: () => Array<Record<string, unknown>>; stream: Writable } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(c: Buffer, _e, cb) {
      chunks.push(c.toString());
      cb();
    },
  });
  return { stream, lines: () => chunks.join('').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('errors in logs', () => {
  it('are objects with type, code, message, stack, context and cause', () => {
    const root = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
    const err = new PitrdError('STORAGE_UNAVAILABLE', 'storage did not answer', { context: { bucket: 'b' }, cause: root });
    const out = loggedError(err);
    expect(out).toMatchObject({ type: 'PitrdError', code: 'STORAGE_UNAVAILABLE', message: 'storage did not answer', context: { bucket: 'b' } });
    expect(out.stack).toContain('logged-errors.test.ts');
    expect(out.cause).toMatchObject({ type: 'Error', code: 'ECONNREFUSED' });
    expect(loggedError('plain text')).toEqual({ type: 'string', code: 'INTERNAL_ERROR', message: 'plain text' });
    // Plain data: it survives the structured clone between a receiver thread and the main thread.
    expect(structuredClone(out)).toEqual(out);
  });

  it('the daemon logger writes an Error and a loggedError() alike, with secrets scrubbed', () => {
    const c = capture();
    const log = createApiLogger({ destination: c.stream });
    const err = new PitrdError('POSTGRES_UNREACHABLE', 'could not connect to postgres://u:hunter2@db:5432/x');
    log.error({ err }, 'direct');
    log.error({ err: loggedError(err) }, 'from a thread');
    const [a, b] = c.lines();
    for (const line of [a, b]) {
      const e = line!.err as Record<string, unknown>;
      expect(e.code).toBe('POSTGRES_UNREACHABLE');
      expect(typeof e.stack).toBe('string');
      expect(JSON.stringify(e)).not.toContain('hunter2');
    }
  });

  it('no log call in src/ reduces an error to its message', () => {
    const offenders: string[] = [];
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir)) {
        const p = join(dir, name);
        if (statSync(p).isDirectory()) walk(p);
        else if (p.endsWith('.ts')) {
          readFileSync(p, 'utf8').split('\n').forEach((line, i) => {
            if (/\berr(or)?: (errorMessage\(|\w+\.message\b|String\()/.test(line)) offenders.push(`${p}:${i + 1}`);
          });
        }
      }
    };
    walk('src');
    expect(offenders).toEqual([]);
  });
});
