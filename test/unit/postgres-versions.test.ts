import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isPitrdError } from '../../src/errors.js';
import { binDirFor, discoverBinDirs } from '../../src/postgres/cluster/index.js';
import { assertSupportedVersion, hasNewBaseBackupProtocol, hasReadReplicationSlot, majorOf, SUPPORTED_MAJORS } from '../../src/postgres/index.js';
import { bkpImageCompressedMask, majorOfPageMagic, pageMagicOfMajor } from '../../src/wal/format.js';

describe('PostgreSQL major versions', () => {
  it('supports 13 to 18 and names the version it refuses', () => {
    expect(SUPPORTED_MAJORS).toEqual([13, 14, 15, 16, 17, 18]);
    expect(majorOf(170004)).toBe(17);
    expect(assertSupportedVersion(130020, 'x')).toBe(13);
    for (const v of [120018, 190000]) {
      let err: unknown;
      try {
        assertSupportedVersion(v, 'the source of main');
      } catch (e) {
        err = e;
      }
      expect(isPitrdError(err, 'POSTGRES_VERSION_UNSUPPORTED')).toBe(true);
      expect((err as Error).message).toContain(`PostgreSQL ${majorOf(v)}`);
    }
  });

  it('knows which protocol features start at 15', () => {
    expect([13, 14, 15, 18].map(hasReadReplicationSlot)).toEqual([false, false, true, true]);
    expect([14, 15].map(hasNewBaseBackupProtocol)).toEqual([false, true]);
  });

  it('maps WAL page magic to majors both ways, and the pre-15 compressed-image bit', () => {
    for (const m of SUPPORTED_MAJORS) expect(majorOfPageMagic(pageMagicOfMajor(m)!)).toBe(m);
    expect(majorOfPageMagic(0xd101)).toBeUndefined();
    expect(bkpImageCompressedMask(14)).toBe(0x02);
    expect(bkpImageCompressedMask(15) & 0x02).toBe(0);
  });

  it('takes configured bin dirs first and refuses a major without binaries, naming it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pitrd-bins-'));
    try {
      const dirs = discoverBinDirs({ '17': dir }, { PATH: '' });
      expect(dirs.get(17)).toBe(dir);
      let err: unknown;
      try {
        binDirFor(17, dirs);
      } catch (e) {
        err = e;
      }
      expect(isPitrdError(err, 'POSTGRES_BINARIES_MISSING')).toBe(true);
      expect((err as Error).message).toContain('PostgreSQL 17');
      expect((err as Error).message).toContain(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
