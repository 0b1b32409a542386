/**
 * `GET /v1/objects/*`: serves the fs driver's signed download URLs (src/storage/signed-url.ts).
 * The signature is the authorization, so no API token is asked for; the stored bytes are
 * streamed as they are in the repository (compressed/encrypted as the repository stores them).
 */
import type { FastifyInstance } from 'fastify';
import { PitrdError } from '../errors.js';
import { FS_SIGNED_URL_PATH, verifyFsSignedUrl, type ObjectStore } from '../storage/index.js';

export function registerObjectRoute(app: FastifyInstance, store: ObjectStore, secret: Buffer): void {
  app.get(`${FS_SIGNED_URL_PATH}*`, async (req, reply) => {
    const { key } = verifyFsSignedUrl(secret, req.url);
    const info = await store.head(key);
    if (!info) throw new PitrdError('OBJECT_NOT_FOUND', `object ${key} is no longer in the repository`, { context: { key } });
    const body = await store.get(key);
    void reply.type('application/octet-stream');
    void reply.header('content-length', info.size);
    void reply.header('content-disposition', `attachment; filename="${key.split('/').pop() ?? 'object'}"`);
    return reply.send(body);
  });
}
