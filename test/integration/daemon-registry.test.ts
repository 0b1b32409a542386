/**
 * The database registry in an encrypted repository, on the fs driver and on a real S3-protocol
 * server (with a key prefix): the registered password is not readable in the stored object, and a
 * restarted daemon decrypts and lists the registration again.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { s3StorageConfig, startS3, type S3Server } from '../harness/index.js';
import { startDaemonFixture, type DaemonFixture } from './daemon-fixture.js';

const PASSWORD = 'Registry-Encrypted-pw-93';
let s3: S3Server;

beforeAll(async () => {
  s3 = await startS3();
}, 60_000);
afterAll(async () => s3?.destroy(), 60_000);

async function check(fx: DaemonFixture): Promise<void> {
  const pid = (await fx.call('POST', '/projects', { name: 'enc' })).json.data.id as string;
  const reg = await fx.call('POST', `/projects/${pid}/databases`, { name: 'secretdb', host: 'db.invalid', user: 'rep', password: PASSWORD });
  expect(reg.status).toBe(201);
  const raw = await fx.daemon.repo.store.getBuffer(`registry/databases/${pid}/secretdb.json`);
  expect(raw.includes(Buffer.from(PASSWORD))).toBe(false);
  expect(raw.includes(Buffer.from('db.invalid'))).toBe(false);

  await fx.restart();
  const list = await fx.call('GET', `/projects/${pid}/databases`);
  expect(list.json.data.databases).toEqual([expect.objectContaining({ name: 'secretdb', host: 'db.invalid', user: 'rep', source: 'api', pitr_enabled: false })]);
  for (const b of fx.bodies) expect(b).not.toContain(PASSWORD);
  for (const l of fx.logs) expect(l).not.toContain(PASSWORD);
}

describe('registry in an encrypted repository', () => {
  it('fs: stored encrypted, read back after a restart', async () => {
    const fx = await startDaemonFixture({ encryption: { key: randomBytes(32).toString('hex') } });
    try {
      await check(fx);
    } finally {
      await fx.close();
    }
  }, 60_000);

  it('s3: stored encrypted, read back after a restart', async () => {
    const fx = await startDaemonFixture({
      encryption: { key: randomBytes(32).toString('hex') },
      storage: s3StorageConfig(s3, { prefix: 'team/pitrd' }),
    });
    try {
      await check(fx);
    } finally {
      await fx.close();
    }
  }, 60_000);
});
