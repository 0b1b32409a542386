import { describe, expect, it } from 'vitest';
import { TarScanner, TAR_BLOCK, tarTerminator } from '../../src/basebackup/tar.js';
import { isPitrdError } from '../../src/errors.js';

/** One ustar member: header + body + padding (a test fixture writer, not used by the product). */
function member(name: string, body: Buffer | string, type = '0', prefix = ''): Buffer {
  const data = typeof body === 'string' ? Buffer.from(body) : body;
  const h = Buffer.alloc(TAR_BLOCK);
  h.write(name, 0, 100, 'utf8');
  h.write('0000600\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(data.length.toString(8).padStart(11, '0') + '\0', 124);
  h.write('00000000000\0', 136);
  h.write(type, 156);
  h.write('ustar\0', 257);
  h.write('00', 263);
  if (prefix) h.write(prefix, 345, 155, 'utf8');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  const pad = Buffer.alloc((TAR_BLOCK - (data.length % TAR_BLOCK)) % TAR_BLOCK);
  return Buffer.concat([h, data, pad]);
}

function feed(scanner: TarScanner, buf: Buffer, chunk: number): void {
  for (let i = 0; i < buf.length; i += chunk) scanner.push(buf.subarray(i, i + chunk));
}

const LABEL = 'START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\nSTART TIMELINE: 1\n';

describe('TarScanner', () => {
  const archive = Buffer.concat([
    member('PG_VERSION', '15\n'),
    member('global', '', '5'),
    member('backup_label', LABEL),
    member('base/1/1259', Buffer.alloc(8192 * 3 + 17, 7)),
    member('pg_wal/000000010000000000000002', Buffer.alloc(1024 * 1024, 1)),
  ]);

  it.each([1, 7, 511, 512, 513, 65536, archive.length])('finds every member and captures backup_label with %i-byte chunks', (chunk) => {
    const s = new TarScanner({ capture: ['backup_label'] });
    feed(s, archive, chunk);
    s.finish();
    expect(s.entries.map((e) => [e.name, e.type, e.size])).toEqual([
      ['PG_VERSION', '0', 3],
      ['global', '5', 0],
      ['backup_label', '0', LABEL.length],
      ['base/1/1259', '0', 8192 * 3 + 17],
      ['pg_wal/000000010000000000000002', '0', 1024 * 1024],
    ]);
    expect(s.captured.get('backup_label')?.toString()).toBe(LABEL);
    expect(s.captured.has('PG_VERSION')).toBe(false);
    expect(s.sawEndOfArchive).toBe(false); // the server leaves the end marker out
    expect(s.bytes).toBe(archive.length);
  });

  it('recognises the end-of-archive marker and ignores padding after it', () => {
    const s = new TarScanner();
    s.push(Buffer.concat([archive, tarTerminator(), Buffer.alloc(8192)]));
    s.finish();
    expect(s.sawEndOfArchive).toBe(true);
    expect(s.entries).toHaveLength(5);
  });

  it('joins the ustar prefix and reads GNU long names', () => {
    const long = 'pg_tblspc/16384/PG_15_202209061/5/' + 'x'.repeat(120);
    const gnu = Buffer.concat([member('././@LongLink', long + '\0', 'L'), member(long.slice(0, 99), 'abc')]);
    const s = new TarScanner();
    s.push(Buffer.concat([member('1259', 'x', '0', 'base/16384'), gnu]));
    s.finish();
    expect(s.entries.map((e) => e.name)).toEqual(['base/16384/1259', long]);
  });

  it('reports a stream cut inside a member as TRUNCATED_OBJECT', () => {
    const s = new TarScanner();
    s.push(archive.subarray(0, archive.length - 1000));
    let err: unknown;
    try {
      s.finish();
    } catch (e) {
      err = e;
    }
    expect(isPitrdError(err, 'TRUNCATED_OBJECT')).toBe(true);
    expect((err as Error).message).toContain('pg_wal/000000010000000000000002');
  });

  it('rejects bytes that are not tar, and a corrupted header', () => {
    expect(() => new TarScanner().push(Buffer.alloc(1024, 0x41))).toThrow(/non-octal/);
    const bad = member('PG_VERSION', '15\n');
    bad[0] = 'Q'.charCodeAt(0);
    expect(() => new TarScanner().push(bad)).toThrow(/checksum mismatch/);
  });
});
