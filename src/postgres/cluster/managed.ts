/**
 * The PostgreSQL servers pitrd runs as managed instances (a database created through the API
 * without connection details): initdb of a new cluster and the roles pitrd and the client use.
 * The server itself is started and stopped by the same runner as restores and branches
 * (./server.ts, ./pg-ctl.ts): same fixed command-line settings, same OS user, same environment.
 *
 * Authentication of a managed cluster: the unix socket (in a directory only the postgres OS user
 * and root can enter) trusts the `postgres` superuser, which is how pitrd runs its own SQL here
 * and how restores of it are checked; TCP (127.0.0.1) asks every role for its SCRAM password.
 * The bootstrap superuser's password is random and thrown away: nobody logs in as it over TCP.
 */
import { randomBytes } from 'node:crypto';
import { appendFileSync, chownSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import pg from 'pg';
import { PitrdError } from '../../errors.js';
import { asOwner } from './as-owner.js';
import { postgresOsUser } from './os-user.js';
import { query, type RecoveryServer } from './server.js';

/** The role pitrd's receiver and base backups connect as (REPLICATION, nothing else). */
export const MANAGED_REPLICATION_ROLE = 'pitrd_replication';
/** The role and database handed to the client (owner of its database, not a superuser). */
export const MANAGED_APP_ROLE = 'app';
export const MANAGED_APP_DATABASE = 'app';

/** A password pitrd generates: 256 random bits, base64url (no character needs quoting in a URI). */
export function generatePassword(): string {
  return randomBytes(32).toString('base64url');
}

/** initdb a new cluster in `dataDir` (created by initdb; its parent must exist and be the postgres OS user's). */
export async function initManagedCluster(o: { dataDir: string; pgBin: string; pwDir: string }): Promise<void> {
  const owner = postgresOsUser();
  const pwFile = join(o.pwDir, `initdb-pw-${randomBytes(4).toString('hex')}`);
  writeFileSync(pwFile, `${generatePassword()}\n`, { mode: 0o600 });
  try {
    if (owner) chownSync(pwFile, owner.uid, owner.gid);
    const args = ['-D', o.dataDir, '-U', 'postgres', '--pwfile', pwFile, '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--locale=C.UTF-8'];
    const r = await execa(join(o.pgBin, 'initdb'), args, { ...asOwner(owner), reject: false });
    if (r.exitCode !== 0) {
      throw new PitrdError('INSTANCE_FAILED', `initdb of a managed instance in ${o.dataDir} failed: ${String(r.stderr).trim().split('\n').slice(-5).join('\n')}`, {
        context: { data_dir: o.dataDir },
      });
    }
  } finally {
    rmSync(pwFile, { force: true });
  }
  // A quiet instance still closes a WAL segment every minute, so its recovery window (archived
  // segments) reaches within a minute of now; its client is no superuser and cannot pg_switch_wal().
  appendFileSync(join(o.dataDir, 'postgresql.conf'), `\n# pitrd (managed instance)\narchive_timeout = ${MANAGED_ARCHIVE_TIMEOUT_S}\n`);
}

/** Seconds after which a managed instance switches to a new WAL segment when it has written any. */
export const MANAGED_ARCHIVE_TIMEOUT_S = 60;

const lit = (s: string) => pg.Client.prototype.escapeLiteral(s);

/**
 * The roles of a managed cluster (run on its socket as the superuser): the replication role
 * pitrd connects as and the client's role owning the client's database. Run again on a copy
 * restored from a snapshot, it gives both roles new passwords (the copy must not share its
 * source's credentials) and leaves the rest as restored.
 */
export async function setupManagedRoles(s: RecoveryServer, passwords: { replication: string; app: string }): Promise<void> {
  const roles = await query<{ rolname: string }>(s, `SELECT rolname FROM pg_roles WHERE rolname IN (${lit(MANAGED_REPLICATION_ROLE)}, ${lit(MANAGED_APP_ROLE)})`);
  const has = new Set(roles.map((r) => r.rolname));
  const verb = (role: string) => (has.has(role) ? 'ALTER' : 'CREATE');
  // Passwords go to the server as SCRAM verifiers computed there; statements are not logged
  // (the runner's log_min_messages is warning and log_statement is never set by pitrd).
  await query(s, `${verb(MANAGED_REPLICATION_ROLE)} ROLE ${MANAGED_REPLICATION_ROLE} WITH LOGIN REPLICATION PASSWORD ${lit(passwords.replication)}`);
  await query(s, `${verb(MANAGED_APP_ROLE)} ROLE ${MANAGED_APP_ROLE} WITH LOGIN CREATEDB CREATEROLE PASSWORD ${lit(passwords.app)}`);
  const dbs = await query<{ datname: string }>(s, `SELECT datname FROM pg_database WHERE datname = ${lit(MANAGED_APP_DATABASE)}`);
  if (dbs.length === 0) await query(s, `CREATE DATABASE ${MANAGED_APP_DATABASE} OWNER ${MANAGED_APP_ROLE}`);
}

/**
 * pg_hba.conf of a managed cluster, written whole (fixed text, nothing from a request): the
 * socket trusts local users (only root and the postgres OS user can enter its directory), TCP
 * on loopback asks for SCRAM passwords, replication included. A cluster restored from a snapshot
 * gets it too, whatever its source allowed.
 */
export function writeManagedHba(dataDir: string): void {
  const owner = postgresOsUser();
  const file = join(dataDir, 'pg_hba.conf');
  const lines = [
    '# written by pitrd for a managed instance; pitrd rewrites it when it restores one',
    'local   all          all                  trust',
    'local   replication  all                  trust',
    'host    all          all   127.0.0.1/32   scram-sha-256',
    'host    replication  all   127.0.0.1/32   scram-sha-256',
    'host    all          all   ::1/128        scram-sha-256',
    'host    replication  all   ::1/128        scram-sha-256',
  ];
  writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o600 });
  if (owner) chownSync(file, owner.uid, owner.gid);
}
