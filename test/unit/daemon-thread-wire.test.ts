import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import { PitrdError, isPitrdError } from '../../src/errors.js';
import { openRepository } from '../../src/repository/index.js';
import { createObjectStore } from '../../src/storage/index.js';
import { fromWireError, openHandedRepository, repositoryHandoff, toWireError } from '../../src/daemon/thread-wire.js';

const dir = mkdtempSync(join(tmpdir(), 'pitrd-thread-wire-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('daemon thread hand-over', () => {
  it('a worker reopens the repository without reading storage (a thread started during an outage still gets its handle)', async () => {
    const checked = (await openRepository(createObjectStore({ type: 'fs', path: dir }), { compression: 'none' })).repoJson;
    // Storage nobody answers on: opening it the ordinary way fails, reopening from the checked repo.json does not.
    const config = parseConfig(
      { storage: { type: 's3', endpoint: 'http://127.0.0.1:1', region: 'us-east-1', bucket: 'b', access_key_id: 'a', secret_access_key: 's', force_path_style: true } },
      { env: {} },
    );
    const handoff = repositoryHandoff(config, checked);
    const repo = openHandedRepository(structuredClone(handoff));
    expect(repo.repoJson).toEqual(checked);
    expect(repo.database({ project: 'default', name: 'main' }).name).toBe('main');
    await expect(openRepository(createObjectStore(handoff.storage), { compression: 'none' })).rejects.toThrow();
  }, 60_000);

  it('errors keep code, context and retryability across the thread boundary', () => {
    const sent = new PitrdError('STORAGE_UNAVAILABLE', 'storage down', { context: { key: 'k' }, retryable: true });
    const got = fromWireError(structuredClone(toWireError(sent)));
    expect(isPitrdError(got, 'STORAGE_UNAVAILABLE')).toBe(true);
    expect(got.message).toBe('storage down');
    expect((got as PitrdError).context).toEqual({ key: 'k' });
    expect((got as PitrdError).retryable).toBe(true);
    const plain = fromWireError(structuredClone(toWireError(new Error('boom'))));
    expect(isPitrdError(plain)).toBe(false);
    expect(plain.message).toBe('boom');
  });
});
