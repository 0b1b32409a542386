import type { Readable, Writable } from 'node:stream';

/**
 * Pipe `source` into a child process's stdin. Unlike pipeline(), a child that stops reading
 * early does not fail the copy with "premature close": tar exits once it has read the
 * end-of-archive marker and may leave trailing padding unread, a race that depends on timing.
 * The rest of `source` is then read and dropped, so its end-of-stream checks (sha256,
 * authentication tag) still run; whether the child succeeded is for its exit status to say.
 * Rejects with the source's own error (checksum, decryption, storage).
 */
export function feedChild(source: Readable, stdin: Writable): Promise<{ stdinClosedEarly: boolean }> {
  return new Promise((resolve, reject) => {
    let early = false;
    const drop = () => {
      if (early || source.readableEnded) return;
      early = true;
      source.unpipe(stdin);
      source.resume();
    };
    stdin.on('error', drop);
    stdin.on('close', drop);
    source.once('error', (err) => {
      stdin.destroy();
      reject(err);
    });
    source.once('end', () => resolve({ stdinClosedEarly: early }));
    source.pipe(stdin);
  });
}
