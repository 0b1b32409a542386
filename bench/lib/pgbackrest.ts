/**
 * pgBackRest as the reference tool of the benchmarks: a config for one stanza on a local
 * repository, run as the postgres OS user (as PostgreSQL's archive_command/restore_command run it).
 * Not used by the tests.
 */
import { execa } from 'execa';
import { chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { asPostgres, postgresUser } from '../../test/harness/index.js';

export interface BackrestSetup {
  conf: string;
  stanza: string;
  repoDir: string;
  run(args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }>;
}

export interface BackrestOptions {
  /** Where the repository, spool, log and lock directories go. */
  dir: string;
  stanza: string;
  pgDataDir: string;
  pgPort: number;
  pgSocketDir: string;
  /** gz level (pgBackRest compress-level), default 6. */
  compressLevel?: number;
  processMax?: number;
  /** archive-push and archive-get asynchronous (with a spool directory), default true. */
  archiveAsync?: boolean;
}

export async function haveBackrest(): Promise<boolean> {
  return (await execa('sh', ['-c', 'command -v pgbackrest'], { reject: false })).exitCode === 0;
}

export function setupBackrest(o: BackrestOptions): BackrestSetup {
  const u = postgresUser();
  const sub = (name: string) => {
    const d = join(o.dir, name);
    mkdirSync(d, { recursive: true, mode: 0o700 });
    if (u) chownSync(d, u.uid, u.gid);
    return d;
  };
  const repoDir = sub('pgbackrest-repo');
  const conf = join(o.dir, 'pgbackrest.conf');
  const lines = [
    '[global]',
    `repo1-path=${repoDir}`,
    'compress-type=gz',
    `compress-level=${o.compressLevel ?? 6}`,
    `process-max=${o.processMax ?? 1}`,
    'start-fast=y',
    `log-path=${sub('pgbackrest-log')}`,
    `lock-path=${sub('pgbackrest-lock')}`,
    'log-level-console=warn',
    'log-level-file=warn',
    ...((o.archiveAsync ?? true) ? ['archive-async=y', `spool-path=${sub('pgbackrest-spool')}`] : []),
    '',
    `[${o.stanza}]`,
    `pg1-path=${o.pgDataDir}`,
    `pg1-port=${o.pgPort}`,
    `pg1-socket-path=${o.pgSocketDir}`,
    '',
  ];
  writeFileSync(conf, lines.join('\n'), { mode: 0o644 });
  if (u) chownSync(conf, u.uid, u.gid);
  return {
    conf,
    stanza: o.stanza,
    repoDir,
    async run(args) {
      const r = await execa('pgbackrest', [`--config=${conf}`, `--stanza=${o.stanza}`, ...args], asPostgres({ reject: false }));
      return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
    },
  };
}

/** The archive_command that pushes to this stanza (for postgresql.conf / ALTER SYSTEM). */
export function archivePushCommand(b: BackrestSetup): string {
  return `pgbackrest --config=${b.conf} --stanza=${b.stanza} archive-push %p`;
}

/** The restore_command pgBackRest writes itself, for a data directory restored to `pgDataDir`. */
export function archiveGetCommand(b: BackrestSetup, pgDataDir: string): string {
  return `pgbackrest --config=${b.conf} --stanza=${b.stanza} --pg1-path=${pgDataDir} archive-get %f "%p"`;
}
