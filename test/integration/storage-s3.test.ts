import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../harness/ports.js';
import { startS3, type S3Server } from '../harness/s3.js';
import { createObjectStore } from '../../src/storage/index.js';
import { storageConformance } from './storage-conformance.js';

storageConformance(
  's3 (s3rver child process)',
  async () => {
    const s3: S3Server = await startS3();
    const store = createObjectStore({
      type: 's3',
      endpoint: s3.endpoint,
      region: s3.region,
      bucket: s3.bucket,
      prefix: 'conformance/run1',
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
      forcePathStyle: true,
    });
    return {
      store,
      outage: { stop: () => s3.stop(), start: () => s3.start() },
      async teardown() {
        await store.close();
        await s3.destroy();
      },
    };
  },
  { outages: true, byteOrderAcrossSegments: false },
);

describe('s3 driver against a server that accepts connections but never answers', () => {
  let server: Server;
  let port: number;
  const sockets = new Set<Socket>();
  beforeAll(async () => {
    port = await freePort();
    server = createServer((sock) => {
      sockets.add(sock); // hold it open, say nothing
      sock.on('close', () => sockets.delete(sock));
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('times out into a retryable STORAGE_UNAVAILABLE instead of hanging', async () => {
    const store = createObjectStore({
      type: 's3',
      endpoint: `http://127.0.0.1:${port}`,
      region: 'us-east-1',
      bucket: 'silent',
      accessKeyId: 'x',
      secretAccessKey: 'y',
      forcePathStyle: true,
      requestTimeoutMs: 300,
      maxAttempts: 2,
    });
    try {
      for (const op of [() => store.head('k'), () => store.put('k', Buffer.from('v')), () => store.list('')]) {
        const err = await op().then(
          () => null,
          (e: unknown) => e,
        );
        expect(err).toMatchObject({ code: 'STORAGE_UNAVAILABLE', retryable: true });
      }
    } finally {
      await store.close();
    }
  });
});
