import { Readable, Transform } from 'node:stream';

/** Read a whole stream into one Buffer (for small objects only: it holds everything). */
export async function streamToBuffer(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) {
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  }
  return Buffer.concat(chunks);
}

/** A Buffer or a stream, always as a stream. */
export function toReadable(body: Buffer | Readable): Readable {
  if (!Buffer.isBuffer(body)) return body;
  return Readable.from(body.length === 0 ? [] : [body], { objectMode: false });
}

/** Pass only bytes start..end (inclusive; end absent = to the end) of a stream. */
export function sliceStream(start: number, end?: number): Transform {
  let pos = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      const from = Math.max(start - pos, 0);
      const to = end === undefined ? chunk.length : Math.min(end + 1 - pos, chunk.length);
      pos += chunk.length;
      cb(null, from < to ? chunk.subarray(from, to) : undefined);
    },
  });
}
