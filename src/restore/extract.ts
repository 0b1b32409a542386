import { rmSync, chownSync, existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync, lchownSync, chmodSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { execa } from 'execa';
import { PitrdError } from '../errors.js';
import type { BackupRecord, DatabaseRepository } from '../repository/index.js';
import { streamToBuffer } from '../storage/index.js';
import { asOwner } from '../postgres/cluster/index.js';
import { feedChild } from './feed.js';
import { IN_PROGRESS_MARK, writeInProgressMark, type InProgressMark } from './in-progress.js';
import { assertMatchesManifest } from './verify-manifest.js';
import type { RestoreProgressListener } from './progress.js';

export interface ExtractOptions {
  db: DatabaseRepository;
  backup: BackupRecord;
  targetDir: string;
  /** Tablespace oid (or its original location) → directory to restore it into. */
  tablespaceMap?: Record<string, string>;
  owner?: { uid: number; gid: number };
  /** Filled with the tablespace directories this call creates (for cleanup after a failure). */
  created?: string[];
  /** Written into the target directory before the first extracted byte (./in-progress.ts). */
  mark?: Omit<InProgressMark, 'pid' | 'host' | 'started'>;
  /** `extract` events: decoded bytes unpacked so far of the backup's archives. */
  onProgress?: RestoreProgressListener;
}

interface TablespaceMeta {
  oid: number;
  location: string | null;
}

/**
 * Refuse a target that holds anything: a restore never overwrites data. The restore's own
 * in-progress mark (./in-progress.ts) is not data: a directory holding only it is empty.
 */
export function assertEmptyTarget(dir: string): void {
  if (existsSync(dir) && readdirSync(dir).some((name) => name !== IN_PROGRESS_MARK)) {
    throw new PitrdError('TARGET_DIR_NOT_EMPTY', 'the restore target directory is not empty; choose an absent or empty directory', { context: { target_dir: dir } });
  }
}

const ARCHIVE_RE = /^(base|\d+)\.tar(\.[a-z0-9]+)?$/;

/**
 * Base backup → new PGDATA: each tar object streamed (decoded, sha256-verified) into `tar -x`
 * run as the postgres OS user, tablespaces into their own directories with pg_tblspc symlinks,
 * then pg_verifybackup against the backup_manifest (WAL not parsed: it comes from the archive).
 */
export async function extractBackup(o: ExtractOptions): Promise<void> {
  assertEmptyTarget(o.targetDir);
  const mk = (dir: string): string | undefined => {
    // Every directory created here (parents too) must belong to the postgres OS user.
    const first = mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    if (o.owner) {
      for (let d = dir; ; d = dirname(d)) {
        chownSync(d, o.owner.uid, o.owner.gid);
        if (first === undefined || d === first || d === dirname(d)) break;
      }
    }
    return first;
  };
  mk(o.targetDir);
  if (o.mark) writeInProgressMark(o.targetDir, o.mark, o.owner);
  const tablespaces = ((o.backup as Record<string, unknown>).tablespaces as TablespaceMeta[] | undefined) ?? [];
  const links: Array<{ oid: string; dir: string }> = [];
  let manifest: string | null = null;
  const bytes = { done: 0, total: o.backup.files.filter((f) => ARCHIVE_RE.test(f.name)).reduce((n, f) => n + f.size, 0) };
  for (const f of o.backup.files) {
    if (f.name.startsWith('backup_manifest')) {
      manifest = f.name;
      continue;
    }
    const m = ARCHIVE_RE.exec(f.name);
    if (!m) continue;
    let dir = o.targetDir;
    if (m[1] !== 'base') {
      const oid = m[1]!;
      const loc = tablespaces.find((t) => String(t.oid) === oid)?.location ?? null;
      dir = resolve(o.tablespaceMap?.[oid] ?? (loc !== null ? o.tablespaceMap?.[loc] : undefined) ?? `${o.targetDir}.tblspc/${oid}`);
      assertEmptyTarget(dir);
      // The topmost directory created is what a failed restore removes again.
      const first = mk(dir);
      if (first !== undefined) o.created?.push(first);
      links.push({ oid, dir });
    }
    await untar(o, f.name, f.sha256, dir, bytes);
  }
  for (const l of links) {
    const p = join(o.targetDir, 'pg_tblspc', l.oid);
    mkdirSync(join(o.targetDir, 'pg_tblspc'), { recursive: true });
    // base.tar carries the link to the SOURCE's tablespace location: it must never survive, or
    // the restored server would write into the live cluster's tablespace.
    rmSync(p, { force: true });
    symlinkSync(l.dir, p);
    if (o.owner) lchownSync(p, o.owner.uid, o.owner.gid);
  }
  if (manifest === null) {
    throw new PitrdError('RESTORE_FAILED', `backup ${o.backup.id} has no backup_manifest object; it cannot be verified`, { context: { backup: o.backup.id } });
  }
  const mf = o.backup.files.find((f) => f.name === manifest)!;
  const body = await streamToBuffer(await o.db.backups.getData(o.backup.id, manifest, { sha256: mf.sha256 }));
  const mpath = join(o.targetDir, 'backup_manifest');
  writeFileSync(mpath, body, { mode: 0o600 });
  if (o.owner) chownSync(mpath, o.owner.uid, o.owner.gid);
  // pitrd's own manifest check (pg_verifybackup --no-parse-wal's): no binary of the backup's major needed.
  await assertMatchesManifest(o.targetDir, body, o.backup.id);
}

async function untar(o: ExtractOptions, name: string, sha256: string, dir: string, bytes: { done: number; total: number }): Promise<void> {
  const body = await o.db.backups.getData(o.backup.id, name, { sha256 });
  const tar = execa('tar', ['-xf', '-', '-C', dir], { ...asOwner(o.owner), stdin: 'pipe', reject: false });
  let streamErr: unknown = null;
  const emit = o.onProgress;
  if (emit) {
    emit({ phase: 'extract', file: name, bytes_done: bytes.done, bytes_total: bytes.total });
    // Counts decoded bytes on their way to tar (a second reader of the same chunks).
    body.on('data', (chunk: Buffer) => {
      bytes.done += chunk.length;
      emit({ phase: 'extract', file: name, bytes_done: bytes.done, bytes_total: bytes.total });
    });
  }
  try {
    await feedChild(body, tar.stdin!);
  } catch (err) {
    // A checksum/decrypt failure ends the decoded stream with an error: stop tar, report that.
    streamErr = err;
    tar.kill('SIGKILL');
  }
  const r = await tar;
  if (streamErr) throw streamErr;
  if (r.exitCode !== 0) {
    const how = r.exitCode === undefined || r.exitCode === null ? `was killed (${r.signal ?? 'signal'})` : `exited ${r.exitCode}`;
    throw new PitrdError('RESTORE_FAILED', `tar ${how} extracting ${name} of backup ${o.backup.id} into ${dir}: ${String(r.stderr).trim()}`, { context: { backup: o.backup.id, name } });
  }
}
