/**
 * BASE_BACKUP as each major speaks it: the command text, and the decoding of what the server
 * sends back into one version-neutral sequence of messages (an archive begins, its bytes, the
 * manifest begins, its bytes, progress), so that ../../basebackup/ has one code path. Pure: the
 * connection (./base-backup.ts) feeds it the wire events in the order they arrived.
 *
 * From 15 (src/backend/backup/basebackup_copy.c, "copystream"): options in parentheses
 * (`CHECKPOINT 'fast'`, `WAL true`, `WAIT false`, `TARGET 'client'`, …); a row (start LSN,
 * timeline), a row set of tablespaces, then ONE CopyOutResponse whose CopyData messages each begin
 * with a type byte: 'n' a new archive (name, tablespace path), 'd' data, 'p' progress (int64
 * bytes sent), 'm' the manifest starts; CopyDone; a row (end LSN, timeline).
 *
 * 13 and 14 (src/backend/replication/basebackup.c, "copytblspc"): bare keywords (`FAST`, `WAL`,
 * `NOWAIT`, no TARGET); the same start row and tablespace row set, then one CopyOutResponse per
 * row of that set, in its order (the main data directory, the row with a null oid, comes last),
 * each COPY carrying one tar stream as raw CopyData (no type byte, no progress message), then,
 * when a manifest was asked for, one more COPY with the manifest's bytes; the end row. The
 * archives are named as pg_basebackup names them: `base.tar`, `<oid>.tar`. Progress is the count
 * of archive bytes received, which is what the server counts in 15.
 */
import { PitrdError } from '../../errors.js';
import { hasNewBaseBackupProtocol } from '../versions.js';

export interface BaseBackupCommand {
  label: string;
  /** A fast (immediate) checkpoint: start now instead of waiting for the next spread checkpoint. */
  fastCheckpoint: boolean;
  /** The WAL from start to stop goes into base.tar's pg_wal/ (pg_basebackup -X fetch). */
  includeWal: boolean;
  /** The server's major version: the command's syntax and its answer's wire format depend on it. */
  major: number;
}

/** The messages of a BASE_BACKUP, version-neutral, in stream order. A throw stops the backup. */
export interface BaseBackupMessages {
  /** A new archive begins (tablespacePath null: the main data directory). */
  archive(name: string, tablespacePath: string | null): void;
  /** The manifest begins; its bytes follow as data. */
  manifest(): void;
  /** Bytes of the current archive or manifest: a view of the read buffer, copy what is kept. */
  data(bytes: Buffer): void;
  /** The count of archive bytes sent so far. */
  progress(bytesDone: number): void;
}

/** The wire events of a running BASE_BACKUP, fed in arrival order. */
export interface BaseBackupWire {
  /** RowDescription: a result set begins. */
  rowDescription(): void;
  /** DataRow of the current result set, in text format. */
  dataRow(fields: ReadonlyArray<string | null>): void;
  /** CopyOutResponse: a COPY begins. */
  copyOut(): void;
  /** A CopyData payload (a view of the read buffer). */
  copyData(payload: Buffer): void;
}

/** The BASE_BACKUP command text for the server's major. */
export function baseBackupCommandText(cmd: BaseBackupCommand): string {
  const label = `LABEL ${quoteLiteral(cmd.label)}`;
  if (hasNewBaseBackupProtocol(cmd.major)) {
    const opts = [
      label,
      'PROGRESS',
      `CHECKPOINT '${cmd.fastCheckpoint ? 'fast' : 'spread'}'`,
      `WAL ${cmd.includeWal}`,
      // WAIT false: with WAL fetched into the tar, or with pitrd's own archive check, waiting
      // for the server's archive_command (usually not configured) would only hang.
      'WAIT false',
      "MANIFEST 'yes'",
      "MANIFEST_CHECKSUMS 'CRC32C'",
      "TARGET 'client'",
    ];
    return `BASE_BACKUP (${opts.join(', ')})`;
  }
  const opts = [label, 'PROGRESS', ...(cmd.fastCheckpoint ? ['FAST'] : []), ...(cmd.includeWal ? ['WAL'] : []), 'NOWAIT', "MANIFEST 'yes'", "MANIFEST_CHECKSUMS 'CRC32C'"];
  return `BASE_BACKUP ${opts.join(' ')}`;
}

/** The decoder of the server's answer for its major, feeding `messages`. */
export function baseBackupDecoder(major: number, messages: BaseBackupMessages): BaseBackupWire {
  return hasNewBaseBackupProtocol(major) ? new CopyStreamDecoder(messages) : new CopyPerTablespaceDecoder(messages);
}

/** 15+: one COPY, typed CopyData messages. */
class CopyStreamDecoder implements BaseBackupWire {
  private named = false;
  private copies = 0;

  constructor(private readonly messages: BaseBackupMessages) {}

  rowDescription(): void {}
  dataRow(): void {}

  copyOut(): void {
    if (++this.copies > 1) throw new PitrdError('REPLICATION_ERROR', 'BASE_BACKUP started a second COPY; PostgreSQL 15 and later send every archive inside one');
  }

  copyData(buf: Buffer): void {
    const kind = buf[0];
    if (kind === 0x64 /* 'd' */) {
      if (!this.named) throw new PitrdError('REPLICATION_ERROR', 'BASE_BACKUP sent data before naming an archive');
      this.messages.data(buf.subarray(1));
    } else if (kind === 0x6e /* 'n' */) {
      const z1 = buf.indexOf(0, 1);
      const z2 = buf.indexOf(0, z1 + 1);
      if (z1 < 0) throw new PitrdError('REPLICATION_ERROR', 'BASE_BACKUP sent a new-archive message without a terminated name');
      const name = buf.subarray(1, z1).toString('utf8');
      const path = buf.subarray(z1 + 1, z2 === -1 ? buf.length : z2).toString('utf8');
      this.named = true;
      this.messages.archive(name, path === '' ? null : path);
    } else if (kind === 0x6d /* 'm' */) {
      this.named = true;
      this.messages.manifest();
    } else if (kind === 0x70 /* 'p' */) {
      if (buf.length < 9) throw new PitrdError('REPLICATION_ERROR', `BASE_BACKUP sent a progress message of ${buf.length} bytes, expected 9`);
      this.messages.progress(Number(buf.readBigInt64BE(1)));
    } else {
      throw new PitrdError('REPLICATION_ERROR', `BASE_BACKUP sent an unknown CopyData message type "${String.fromCharCode(kind ?? 0)}"`);
    }
  }
}

/** Report progress at most once per this many bytes (the 15+ server reports about once a second). */
const PROGRESS_EVERY = 4 * 1024 * 1024;

/** 13 and 14: one COPY per tablespace (raw tar), then one for the manifest. */
class CopyPerTablespaceDecoder implements BaseBackupWire {
  /** Result sets begun so far: 1 the start position, 2 the tablespaces, 3 the end position. */
  private resultSets = 0;
  private readonly tablespaces: Array<{ oid: string | null; location: string | null }> = [];
  private copies = 0;
  /** In the manifest's COPY (its bytes are not archive bytes). */
  private inManifest = false;
  private bytesDone = 0;
  private reported = 0;

  constructor(private readonly messages: BaseBackupMessages) {}

  rowDescription(): void {
    this.resultSets++;
  }

  dataRow(fields: ReadonlyArray<string | null>): void {
    if (this.resultSets === 2) this.tablespaces.push({ oid: fields[0] ?? null, location: fields[1] ?? null });
  }

  copyOut(): void {
    if (this.resultSets !== 2) throw new PitrdError('REPLICATION_ERROR', `BASE_BACKUP started a COPY after ${this.resultSets} result set(s); expected it after the start position and the tablespace list`);
    this.flushProgress();
    const i = this.copies++;
    const ts = this.tablespaces[i];
    if (ts) {
      this.messages.archive(ts.oid === null ? 'base.tar' : `${ts.oid}.tar`, ts.oid === null ? null : ts.location);
    } else if (i === this.tablespaces.length) {
      this.inManifest = true;
      this.messages.manifest();
    } else {
      throw new PitrdError('REPLICATION_ERROR', `BASE_BACKUP started COPY number ${i + 1}, but listed ${this.tablespaces.length} tablespace(s) and one manifest`);
    }
  }

  copyData(buf: Buffer): void {
    if (this.copies === 0) throw new PitrdError('REPLICATION_ERROR', 'BASE_BACKUP sent data before starting a COPY');
    this.messages.data(buf);
    if (this.inManifest) return;
    this.bytesDone += buf.length;
    if (this.bytesDone - this.reported >= PROGRESS_EVERY) this.flushProgress();
  }

  private flushProgress(): void {
    if (this.bytesDone === this.reported) return;
    this.reported = this.bytesDone;
    this.messages.progress(this.bytesDone);
  }
}

function quoteLiteral(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}
