/**
 * A server that lies about a message's length: pitrd's replication connections (the receiver's
 * and the base backup's) must fail with POSTGRES_PROTOCOL_VIOLATION at once, without waiting for
 * (or setting memory aside for) the 2 GiB it claims. The server is a few lines of the backend
 * protocol on a loopback socket: enough to pass startup and answer one command.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { isPitrdError } from '../../src/errors.js';
import { BaseBackupConnection, ReplicationConnection } from '../../src/postgres/index.js';

const TWO_GIB = 2 ** 31;

function message(type: string, body: Buffer): Buffer {
  const h = Buffer.alloc(5);
  h.write(type, 0, 'latin1');
  h.writeUInt32BE(body.length + 4, 1);
  return Buffer.concat([h, body]);
}

/** A header alone: type and a length word the body never follows. */
function claim(type: string, length: number): Buffer {
  const h = Buffer.alloc(5);
  h.write(type, 0, 'latin1');
  h.writeUInt32BE(length, 1);
  return h;
}

const AUTH_OK = message('R', Buffer.from([0, 0, 0, 0]));
const READY = message('Z', Buffer.from('I'));

/**
 * `atStartup`: what to send instead of AuthenticationOk. `onQuery`: the answer to the first
 * simple query (the startup packet is read as one length-prefixed packet, then 'Q' messages).
 */
async function hostileServer(o: { atStartup?: Buffer; onQuery?: (text: string) => Buffer }): Promise<{ port: number; queries: string[]; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const queries: string[] = [];
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
    let buf = Buffer.alloc(0);
    let started = false;
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        if (!started) {
          if (buf.length < 4) return;
          const len = buf.readUInt32BE(0);
          if (buf.length < len) return;
          buf = buf.subarray(len);
          started = true;
          s.write(o.atStartup ?? Buffer.concat([AUTH_OK, READY]));
          continue;
        }
        if (buf.length < 5) return;
        const len = buf.readUInt32BE(1);
        if (buf.length < 1 + len) return;
        const type = String.fromCharCode(buf[0]!);
        const text = buf.subarray(5, len).toString('utf8');
        buf = buf.subarray(1 + len);
        if (type === 'Q') {
          queries.push(text);
          if (o.onQuery) s.write(o.onQuery(text));
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    queries,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const source = (port: number) => ({ host: '127.0.0.1', port, user: 'pitrd', database: 'postgres', tls: { sslmode: 'disable' as const }, connectTimeoutMs: 10_000 });

describe('a server that claims a 2 GiB message', () => {
  let server: Awaited<ReturnType<typeof hostileServer>> | null = null;
  afterEach(async () => {
    await server?.close();
    server = null;
  });

  it('during startup: the receiver and the base backup refuse to connect with POSTGRES_PROTOCOL_VIOLATION', async () => {
    server = await hostileServer({ atStartup: claim('R', TWO_GIB - 16) });
    const receiver = await ReplicationConnection.open(source(server.port)).then(
      () => null,
      (e: unknown) => e,
    );
    expect(isPitrdError(receiver, 'POSTGRES_PROTOCOL_VIOLATION')).toBe(true);
    expect((receiver as { context: Record<string, unknown> }).context).toMatchObject({ type: 'R'.charCodeAt(0), length: TWO_GIB - 16 });
    const backup = await BaseBackupConnection.open(source(server.port), 'hostile').then(
      () => null,
      (e: unknown) => e,
    );
    expect(isPitrdError(backup, 'POSTGRES_PROTOCOL_VIOLATION')).toBe(true);
  });

  it('in a CopyBoth stream: START_REPLICATION fails with POSTGRES_PROTOCOL_VIOLATION and the connection closes', async () => {
    // CopyBothResponse (binary, no columns), then a CopyData header claiming 2 GiB.
    server = await hostileServer({ onQuery: () => Buffer.concat([message('W', Buffer.from([1, 0, 0])), claim('d', TWO_GIB)]) });
    const conn = await ReplicationConnection.open(source(server.port));
    const closed = new Promise<Error | undefined>((r) => conn.onClose(r));
    const payloads: Buffer[] = [];
    const err = await conn.stream('pitrd_x', 0x1000000n, 1, (p) => payloads.push(Buffer.from(p))).then(
      () => null,
      (e: unknown) => e,
    );
    expect(isPitrdError(err, 'POSTGRES_PROTOCOL_VIOLATION')).toBe(true);
    expect(server.queries).toEqual(['START_REPLICATION SLOT "pitrd_x" PHYSICAL 0/1000000 TIMELINE 1']);
    expect(payloads).toEqual([]);
    expect(isPitrdError(await closed, 'POSTGRES_PROTOCOL_VIOLATION')).toBe(true);
    await conn.close();
  });

  it('in a BASE_BACKUP stream: the backup fails with POSTGRES_PROTOCOL_VIOLATION', async () => {
    // CopyOutResponse, one well-formed archive start, then a CopyData header claiming 2 GiB.
    server = await hostileServer({
      onQuery: () => Buffer.concat([message('H', Buffer.from([0, 0, 0])), message('d', Buffer.from('nbase.tar\0\0')), claim('d', TWO_GIB - 16)]),
    });
    const conn = await BaseBackupConnection.open(source(server.port), 'hostile');
    const archives: string[] = [];
    const err = await conn
      .run({ label: 'x', fastCheckpoint: true, includeWal: false, major: 15 }, { archive: (name) => archives.push(name), manifest: () => undefined, data: () => undefined, progress: () => undefined })
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(isPitrdError(err, 'POSTGRES_PROTOCOL_VIOLATION')).toBe(true);
    expect(archives).toEqual(['base.tar']);
    expect(server.queries[0]).toMatch(/^BASE_BACKUP \(LABEL 'x'/);
    await conn.close();
  });
});
