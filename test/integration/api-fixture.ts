import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { createApi, createApiLogger, MemoryDatabaseRegistry, MetricsRegistry, type CreateApiOptions, type RouteDef } from '../../src/api/index.js';
import { ObjectStoreProjectStore } from '../../src/service/index.js';
import { FileTokenStore, type Tier } from '../../src/auth/index.js';
import { createObjectStore, type ObjectStore } from '../../src/storage/index.js';

/** A real API over a temp dir: fs object store, JSON tokens file, captured pino output. */
export interface ApiFixture {
  dir: string;
  app: FastifyInstance;
  tokens: FileTokenStore;
  store: ObjectStore;
  projects: ObjectStoreProjectStore;
  databases: MemoryDatabaseRegistry;
  metrics: MetricsRegistry;
  logs: string[];
  /** Milliseconds; tests advance it instead of sleeping. */
  clock: { now: number };
  token(projects: string[], tier?: Tier, name?: string): Promise<string>;
  close(): Promise<void>;
}

export async function startApiFixture(extra: Partial<CreateApiOptions> & { routes?: RouteDef[] } = {}): Promise<ApiFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'pitrd-api-'));
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(chunk.toString('utf8'));
      cb();
    },
  });
  const clock = { now: Date.parse('2026-01-25T14:30:00Z') };
  const tokens = new FileTokenStore(join(dir, 'tokens.json'));
  const store = createObjectStore({ type: 'fs', path: join(dir, 'repo') });
  const projects = new ObjectStoreProjectStore(store, undefined, () => new Date(clock.now));
  const databases = new MemoryDatabaseRegistry();
  const metrics = new MetricsRegistry();
  const app = await createApi({
    services: { projects, databases },
    auth: tokens,
    logger: createApiLogger({ level: 'debug', destination: sink }),
    clock: () => clock.now,
    metrics,
    validateResponses: true,
    ...extra,
  });
  await app.ready();
  return {
    dir,
    app,
    tokens,
    store,
    projects,
    databases,
    metrics,
    logs,
    clock,
    async token(scope, tier = 'pro', name = 'test') {
      return (await tokens.create({ name, projects: scope, tier })).token;
    },
    async close() {
      try {
        await app.close();
        await store.close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}
