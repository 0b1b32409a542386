/**
 * BASE_BACKUP's command text and the decoding of its answer per major (pure): 15+ speaks one COPY
 * with typed CopyData messages, 13 and 14 one COPY per tablespace (raw tar) and one for the
 * manifest; both come out as the same version-neutral messages.
 */
import { describe, expect, it } from 'vitest';
import { isPitrdError } from '../../src/errors.js';
import { baseBackupCommandText, baseBackupDecoder, type BaseBackupMessages } from '../../src/postgres/index.js';

function recorder(): { events: string[]; messages: BaseBackupMessages } {
  const events: string[] = [];
  return {
    events,
    messages: {
      archive: (name, path) => events.push(`archive ${name} ${path ?? '-'}`),
      manifest: () => events.push('manifest'),
      data: (b) => events.push(`data ${b.toString('latin1')}`),
      progress: (n) => events.push(`progress ${n}`),
    },
  };
}

describe('baseBackupCommandText', () => {
  it('uses the parenthesised options from 15', () => {
    expect(baseBackupCommandText({ label: "it's", fastCheckpoint: true, includeWal: false, major: 15 })).toBe(
      "BASE_BACKUP (LABEL 'it''s', PROGRESS, CHECKPOINT 'fast', WAL false, WAIT false, MANIFEST 'yes', MANIFEST_CHECKSUMS 'CRC32C', TARGET 'client')",
    );
    expect(baseBackupCommandText({ label: 'x', fastCheckpoint: false, includeWal: true, major: 18 })).toContain("CHECKPOINT 'spread', WAL true");
  });

  it('uses bare keywords before 15', () => {
    expect(baseBackupCommandText({ label: 'x', fastCheckpoint: true, includeWal: true, major: 14 })).toBe("BASE_BACKUP LABEL 'x' PROGRESS FAST WAL NOWAIT MANIFEST 'yes' MANIFEST_CHECKSUMS 'CRC32C'");
    expect(baseBackupCommandText({ label: 'x', fastCheckpoint: false, includeWal: false, major: 13 })).toBe("BASE_BACKUP LABEL 'x' PROGRESS NOWAIT MANIFEST 'yes' MANIFEST_CHECKSUMS 'CRC32C'");
  });
});

describe('baseBackupDecoder, 15 and later', () => {
  it('turns typed CopyData messages into archives, data, manifest and progress', () => {
    const { events, messages } = recorder();
    const d = baseBackupDecoder(16, messages);
    d.rowDescription();
    d.dataRow(['0/2000028', '1']);
    d.copyOut();
    d.copyData(Buffer.from('n16384.tar\0/srv/ts\0'));
    d.copyData(Buffer.from('dAB'));
    d.copyData(Buffer.concat([Buffer.from('p'), Buffer.from([0, 0, 0, 0, 0, 0, 0, 2])]));
    d.copyData(Buffer.from('nbase.tar\0\0'));
    d.copyData(Buffer.from('dCD'));
    d.copyData(Buffer.from('m'));
    d.copyData(Buffer.from('d{}'));
    expect(events).toEqual(['archive 16384.tar /srv/ts', 'data AB', 'progress 2', 'archive base.tar -', 'data CD', 'manifest', 'data {}']);
  });

  it('refuses data before an archive, unknown types and a second COPY', () => {
    const d = baseBackupDecoder(15, recorder().messages);
    d.copyOut();
    expect(() => d.copyData(Buffer.from('dX'))).toThrow(/before naming an archive/);
    expect(() => d.copyData(Buffer.from('zX'))).toThrow(/unknown CopyData message type "z"/);
    expect(() => d.copyOut()).toThrow(/second COPY/);
  });
});

describe('baseBackupDecoder, 13 and 14', () => {
  it('names one archive per COPY from the tablespace rows, then the manifest', () => {
    const { events, messages } = recorder();
    const d = baseBackupDecoder(13, messages);
    d.rowDescription();
    d.dataRow(['0/2000028', '1']);
    d.rowDescription();
    d.dataRow(['16384', '/srv/ts', '8']);
    d.dataRow([null, null, '24000']);
    d.copyOut();
    d.copyData(Buffer.from('AB'));
    d.copyOut();
    d.copyData(Buffer.from('CDE'));
    d.copyOut();
    d.copyData(Buffer.from('{}'));
    d.rowDescription();
    d.dataRow(['0/2000100', '1']);
    expect(events).toEqual(['archive 16384.tar /srv/ts', 'data AB', 'progress 2', 'archive base.tar -', 'data CDE', 'progress 5', 'manifest', 'data {}']);
  });

  it('refuses a COPY beyond the tablespaces and the manifest, and data outside a COPY', () => {
    const d = baseBackupDecoder(14, recorder().messages);
    expect(() => d.copyData(Buffer.from('AB'))).toThrow(/before starting a COPY/);
    d.rowDescription();
    expect(() => d.copyOut()).toThrow(/after 1 result set/);
    d.rowDescription();
    d.dataRow([null, null, '1']);
    d.copyOut();
    d.copyOut();
    let err: unknown = null;
    try {
      d.copyOut();
    } catch (e) {
      err = e;
    }
    expect(isPitrdError(err, 'REPLICATION_ERROR')).toBe(true);
    expect((err as Error).message).toMatch(/COPY number 3, but listed 1 tablespace\(s\) and one manifest/);
  });
});
