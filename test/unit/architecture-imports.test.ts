/**
 * docs/architecture.md declares which src/ folder may import which (its `imports` block). This
 * test reads every relative import under src/ and fails on one the map does not allow, so the
 * map and the code cannot drift apart silently.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const srcRoot = join(repoRoot, 'src');

function allowedImports(): Map<string, Set<string>> {
  const doc = readFileSync(join(repoRoot, 'docs/architecture.md'), 'utf8');
  const block = /```imports\n([\s\S]*?)```/.exec(doc);
  if (!block) throw new Error('docs/architecture.md has no ```imports block');
  const map = new Map<string, Set<string>>();
  for (const line of block[1]!.split('\n')) {
    const m = /^([a-z-]+|\(shared\)):(.*)$/.exec(line.trim());
    if (m) map.set(m[1]!, new Set(m[2]!.trim().split(/\s+/).filter(Boolean)));
  }
  return map;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** The folder (or top-level file, without extension) of src/ that a path belongs to. */
function room(path: string): string {
  const parts = relative(srcRoot, path).split(sep);
  return parts.length === 1 ? parts[0]!.replace(/\.(ts|js)$/, '') : parts[0]!;
}

describe('docs/architecture.md import map', () => {
  const allowed = allowedImports();
  /** Top-level files of src/ that every folder may import (the map's `(shared)` line). */
  const SHARED = allowed.get('(shared)') ?? new Set<string>();
  const imports: { file: string; from: string; to: string }[] = [];
  for (const file of sourceFiles(srcRoot)) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:\bfrom|\bimport)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
      const from = room(file);
      const to = room(resolve(dirname(file), m[1]!));
      if (from !== to && !to.startsWith('..')) imports.push({ file: relative(repoRoot, file), from, to });
    }
  }

  it('finds the imports it checks', () => {
    expect(imports.length).toBeGreaterThan(50);
  });

  it('every folder of src/ is on the map', () => {
    const folders = readdirSync(srcRoot, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    expect(folders.filter((f) => !allowed.has(f))).toEqual([]);
  });

  it('no folder imports one the map does not allow, and every top-level file is on it', () => {
    const forbidden = imports
      .filter(({ from, to }) => !SHARED.has(to) && !SHARED.has(from) && !allowed.get(from)?.has(to))
      .map(({ file, to }) => `${file} imports ${to}/`);
    expect(forbidden).toEqual([]);
  });

  it('the shared top-level files import no folder above them', () => {
    const up = imports.filter(({ from, to }) => SHARED.has(from) && !SHARED.has(to)).map(({ file, to }) => `${file} imports ${to}/`);
    expect(up).toEqual([]);
  });
});
