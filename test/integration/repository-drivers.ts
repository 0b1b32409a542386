/**
 * Shared by the repository integration tests: the two real storage drivers, each giving a fresh,
 * empty ObjectStore per call and cleaning everything up afterwards.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createObjectStore } from '../../src/storage/index.js';
import type { ObjectStore } from '../../src/storage/types.js';
import { startS3 } from '../harness/s3.js';

export interface DriverFixture {
  name: 'fs' | 's3';
  /** A new empty store (own directory or own prefix). */
  fresh(): Promise<ObjectStore>;
  stop(): Promise<void>;
}

export async function fsDriver(): Promise<DriverFixture> {
  const dirs: string[] = [];
  const stores: ObjectStore[] = [];
  return {
    name: 'fs',
    async fresh() {
      const dir = mkdtempSync(join(tmpdir(), 'pitrd-repo-fs-'));
      dirs.push(dir);
      const s = createObjectStore({ type: 'fs', path: dir });
      stores.push(s);
      return s;
    },
    async stop() {
      for (const s of stores) await s.close();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    },
  };
}

let n = 0;
export async function s3Driver(): Promise<DriverFixture> {
  const s3 = await startS3();
  const stores: ObjectStore[] = [];
  return {
    name: 's3',
    async fresh() {
      n += 1;
      const s = createObjectStore({
        type: 's3',
        endpoint: s3.endpoint,
        region: s3.region,
        bucket: s3.bucket,
        prefix: `t${process.pid}-${n}`,
        accessKeyId: s3.accessKeyId,
        secretAccessKey: s3.secretAccessKey,
        forcePathStyle: s3.forcePathStyle,
      });
      stores.push(s);
      return s;
    },
    async stop() {
      for (const s of stores) await s.close();
      await s3.destroy();
    },
  };
}

/** Every key in a store, sorted, with sizes: to prove that an operation wrote nothing. */
export async function snapshot(store: ObjectStore): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.listAll('')) out.push(`${o.key}:${o.size}`);
  return out.sort();
}

/**
 * Both drivers for `for (const driver of lazyDrivers()) describe(...)`: the s3rver process starts
 * only when a test first asks for a store, so a filtered run of the fs half starts none.
 */
export function lazyDrivers(): DriverFixture[] {
  return ([['fs', fsDriver], ['s3', s3Driver]] as const).map(([name, make]) => {
    let inner: Promise<DriverFixture> | undefined;
    return {
      name,
      fresh: async () => (await (inner ??= make())).fresh(),
      stop: async () => {
        if (inner) await (await inner).stop();
      },
    };
  });
}
