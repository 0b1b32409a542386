/**
 * The published package holds what runs (the compiled CLI and daemon, the container's entrypoint
 * and health check, the docs), never the tests or benchmarks; `npm pack --dry-run` lists it.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { files: string[]; bin: Record<string, string>; engines: { node: string } };

describe('package.json', () => {
  it('publishes the built code and no tests, benchmarks or sources', () => {
    const listed = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' })) as Array<{ files: Array<{ path: string }> }>;
    const paths = listed[0]!.files.map((f) => f.path);
    expect(paths.filter((p) => /^(test|bench|src|\.ci)\//.test(p))).toEqual([]);
    expect(paths).toEqual(expect.arrayContaining(['package.json', 'README.md', 'docker/entrypoint.sh', 'docker/healthcheck.mjs']));
    // The bin is in a published folder (dist is built by `prepare` on install from a checkout).
    for (const bin of Object.values(pkg.bin)) expect(pkg.files.some((f) => bin.startsWith(`${f}/`))).toBe(true);
  });

  it('accepts every supported Node major (20 while it lasts, 22, 24)', () => {
    expect(pkg.engines.node).toBe('>=20.5');
  });
});
