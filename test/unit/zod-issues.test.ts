import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parseInput } from '../../src/api/validation.js';
import { formatIssues } from '../../src/config/issues.js';
import { PitrdError } from '../../src/errors.js';
import { describeIssues } from '../../src/repository/meta.js';
import { formatIssuePath, issueSites, valueAtPath } from '../../src/zod-issues.js';

// One walk of zod issues for the API, the config file and repository metadata (the API and the
// config each had their own path join and value lookup, which could disagree).
const schema = z.strictObject({
  name: z.string(),
  port: z.number(),
  items: z.array(z.strictObject({ id: z.string() })),
  compression: z.strictObject({ type: z.enum(['gzip', 'none']) }).optional(),
});
const input = { port: 'abc', items: [{ id: 'a' }, { id: 1, extra: true, more: 2 }], compression: 'brotli', stray: 1 };
const issues = schema.safeParse(input).error!.issues;

describe('zod issues: one walk', () => {
  it('places every issue: unknown keys one each, missing, wrong, a scalar standing for an object', () => {
    const sites = issueSites(issues, input).map((s) => [formatIssuePath(s.path), s.kind, s.value]);
    expect(sites).toEqual(
      expect.arrayContaining([
        ['name', 'missing', undefined],
        ['port', 'invalid', 'abc'],
        ['items[1].id', 'invalid', 1],
        ['items[1].extra', 'unknown-key', true],
        ['items[1].more', 'unknown-key', 2],
        ['compression', 'invalid', 'brotli'],
        ['stray', 'unknown-key', 1],
      ]),
    );
    expect(formatIssuePath([])).toBe('(root)');
    expect(formatIssuePath([0, 'a', 2])).toBe('[0].a[2]');
    expect(valueAtPath({ a: 'x' }, ['a', 'b'])).toBe('x');
  });

  it('the API, the config file and repository metadata name the same places', () => {
    let api: PitrdError | undefined;
    try {
      parseInput('body', schema, input);
    } catch (err) {
      api = err as PitrdError;
    }
    const apiPlaces = api!.message.split('; ').map((l) => l.slice(0, l.indexOf(':')));
    const configPlaces = formatIssues(issues, input, new Map()).map((l) => l.slice(0, l.indexOf(':')));
    expect(apiPlaces).toEqual(configPlaces.map((p) => `body.${p}`));
    expect(apiPlaces).toEqual(expect.arrayContaining(['body.name', 'body.port', 'body.items[1].id', 'body.items[1].extra', 'body.stray']));
    expect(api!.message).toContain('body.name: required (expected string)');
    expect(api!.message).toContain('body.port: expected number, received string');
    const metaPlaces = describeIssues(issues).split('; ').map((l) => l.slice(0, l.indexOf(':')));
    expect(metaPlaces).toEqual(issues.map((i) => formatIssuePath(i.path)));
  });
});
