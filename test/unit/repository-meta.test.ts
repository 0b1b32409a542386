/**
 * MetaStore's torn-read handling: a metadata object read while another writer replaces it (on a
 * non-atomic S3-compatible server) is read again; a damaged object still fails, and never
 * returns garbage.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { PitrdError } from '../../src/errors.js';
import { MetaStore, TORN_READ_ATTEMPTS } from '../../src/repository/meta.js';
import type { CodecStore } from '../../src/storage/types.js';

const Schema = z.object({ a: z.number() });

/** A CodecStore whose getBuffer answers from a script, one entry per call. */
function scripted(answers: Array<Buffer | PitrdError>): { codec: CodecStore; calls: () => number } {
  let n = 0;
  const codec = {
    getBuffer: async () => {
      const a = answers[Math.min(n++, answers.length - 1)]!;
      if (a instanceof PitrdError) throw a;
      return a;
    },
  } as unknown as CodecStore;
  return { codec, calls: () => n };
}

describe('MetaStore.read', () => {
  it('reads again after a torn (truncated) read and returns the finished object', async () => {
    const s = scripted([new PitrdError('TRUNCATED_OBJECT', 'x: stream ended after 0 frame(s)'), Buffer.from('{"a":1}')]);
    await expect(new MetaStore(s.codec).read('x', Schema)).resolves.toEqual({ a: 1 });
    expect(s.calls()).toBe(2);
  });

  it('reads again after half-written JSON', async () => {
    const s = scripted([Buffer.from('{"a":'), Buffer.from('{"a":2}')]);
    await expect(new MetaStore(s.codec).read('x', Schema)).resolves.toEqual({ a: 2 });
  });

  it('reports a damaged object after the last attempt, naming the key', async () => {
    const s = scripted([Buffer.from('not json')]);
    await expect(new MetaStore(s.codec).read('databases/main/database.json', Schema)).rejects.toMatchObject({
      code: 'REPO_INVALID',
      message: expect.stringContaining('databases/main/database.json'),
    });
    expect(s.calls()).toBe(TORN_READ_ATTEMPTS);
  });

  it('does not retry other failures (storage down is the caller’s to retry)', async () => {
    const s = scripted([new PitrdError('STORAGE_UNAVAILABLE', 'down')]);
    await expect(new MetaStore(s.codec).read('x', Schema)).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
    expect(s.calls()).toBe(1);
  });

  it('returns null for an absent object', async () => {
    const s = scripted([new PitrdError('OBJECT_NOT_FOUND', 'gone')]);
    await expect(new MetaStore(s.codec).read('x', Schema)).resolves.toBeNull();
  });
});
