/**
 * A fake PostgreSQL server of any version (real binaries of 12 or 19 do not exist here): a few
 * lines of the backend protocol on a loopback socket, enough for pitrd to connect (plain, trust
 * authentication), read the version the way it does (`current_setting('server_version_num')`
 * over SQL; IDENTIFY_SYSTEM and `SHOW …` on a replication connection) and hear an error for
 * anything else. Every query is recorded.
 */
import net from 'node:net';

export interface FakePostgres {
  port: number;
  /** Simple queries received, in order. */
  queries: string[];
  close(): Promise<void>;
}

export interface FakePostgresOptions {
  /** server_version_num to report, e.g. 120022 or 190000. */
  versionNum: number;
  /** Listen on this port (default: a free one). */
  port?: number;
}

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;

function message(type: string, body: Buffer): Buffer {
  const h = Buffer.alloc(5);
  h.write(type, 0, 'latin1');
  h.writeUInt32BE(body.length + 4, 1);
  return Buffer.concat([h, body]);
}

const cstr = (s: string) => Buffer.from(`${s}\0`, 'utf8');

/** RowDescription + one DataRow (text columns) + CommandComplete. */
function rows(columns: Record<string, string>): Buffer {
  const names = Object.keys(columns);
  const desc = [Buffer.from([names.length >> 8, names.length & 0xff])];
  for (const n of names) {
    const f = Buffer.alloc(18);
    f.writeUInt32BE(25, 6); // type oid: text
    f.writeInt16BE(-1, 10); // typlen
    f.writeInt32BE(-1, 12); // typmod
    desc.push(cstr(n), f);
  }
  const data = [Buffer.from([names.length >> 8, names.length & 0xff])];
  for (const n of names) {
    const v = Buffer.from(columns[n]!, 'utf8');
    const len = Buffer.alloc(4);
    len.writeInt32BE(v.length);
    data.push(len, v);
  }
  return Buffer.concat([message('T', Buffer.concat(desc)), message('D', Buffer.concat(data)), message('C', cstr('SELECT 1'))]);
}

function error(text: string): Buffer {
  return message('E', Buffer.concat([cstr('SERROR'), cstr('C0A000'), cstr(`M${text}`), Buffer.from([0])]));
}

export async function startFakePostgres(o: FakePostgresOptions): Promise<FakePostgres> {
  const version = `${Math.floor(o.versionNum / 10000)}.${o.versionNum % 10000}`;
  const sockets = new Set<net.Socket>();
  const queries: string[] = [];
  const ready = message('Z', Buffer.from('I'));
  const answer = (text: string): Buffer => {
    if (/server_version_num/i.test(text) && /current_setting|SHOW/i.test(text)) {
      const col = /SHOW/i.test(text) ? 'server_version_num' : 'v';
      return rows({ [col]: String(o.versionNum) });
    }
    if (/^SHOW wal_segment_size/i.test(text)) return rows({ wal_segment_size: '16MB' });
    if (/^IDENTIFY_SYSTEM/i.test(text)) return rows({ systemid: '7000000000000000001', timeline: '1', xlogpos: '0/1000000', dbname: '' });
    return error(`the fake PostgreSQL ${version} server does not answer "${text}"`);
  };
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
          if (buf.length < 8) return;
          const len = buf.readUInt32BE(0);
          if (buf.length < len) return;
          const code = buf.readUInt32BE(4);
          buf = buf.subarray(len);
          if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
            s.write('N');
            continue;
          }
          started = true;
          const params = [
            ['server_version', version],
            ['server_encoding', 'UTF8'],
            ['client_encoding', 'UTF8'],
            ['integer_datetimes', 'on'],
          ].map(([k, v]) => message('S', Buffer.concat([cstr(k!), cstr(v!)])));
          const keyData = message('K', Buffer.from([0, 0, 0, 1, 0, 0, 0, 2]));
          s.write(Buffer.concat([message('R', Buffer.from([0, 0, 0, 0])), ...params, keyData, ready]));
          continue;
        }
        if (buf.length < 5) return;
        const len = buf.readUInt32BE(1);
        if (buf.length < 1 + len) return;
        const type = String.fromCharCode(buf[0]!);
        const text = buf.subarray(5, len).toString('utf8');
        buf = buf.subarray(1 + len);
        if (type === 'X') {
          s.end();
          return;
        }
        if (type === 'Q') {
          queries.push(text);
          s.write(Buffer.concat([answer(text), ready]));
        }
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, '127.0.0.1', () => resolve());
  });
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
