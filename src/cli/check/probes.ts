/**
 * `pitrd check`'s probes of one configured database: what must hold for pitrd to protect it.
 * Each probe answers ok / warning / critical with a sentence an operator can act on; the SQL is
 * read-only except the archive probe's WAL switch. Connections go through src/postgres (TLS as
 * configured), like every other connection pitrd makes to a source.
 */
import type pg from 'pg';
import { sourceConnection, type DatabaseConfig } from '../../config/index.js';
import { errorMessage, isPitrdError } from '../../errors.js';
import { binDirFor, hostBinDirs } from '../../postgres/cluster/index.js';
import { assertSupportedVersion, connectSource, identifySystem, isSupportedMajor, majorOf, queryReplicationSettings, queryRoleRights, queryServerVersionNum, querySlotState, switchWal } from '../../postgres/index.js';
import type { DatabaseRepository } from '../../repository/index.js';

export type CheckStatus = 'ok' | 'warning' | 'critical';

export interface CheckResult {
  check: string;
  status: CheckStatus;
  message: string;
}

export interface ProbeOptions {
  /** How long the archive probe waits for the switched segment to reach the repository. */
  archiveTimeoutMs: number;
  /** Skip the archive probe (it switches a WAL segment on the server). */
  archive: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function failure(check: string, err: unknown): CheckResult {
  return { check, status: 'critical', message: `${isPitrdError(err) ? `${err.code}: ` : ''}${errorMessage(err)}` };
}

/** Every probe of one database, in order; a failed connection ends the list (nothing else can be asked). */
export async function probeDatabase(db: DatabaseConfig, repo: DatabaseRepository | null, o: ProbeOptions): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  let client: pg.Client;
  try {
    client = await connectSource({ ...sourceConnection(db), connectTimeoutMs: 10_000 }, { applicationName: 'pitrd check', queryTimeoutMs: 15_000 });
  } catch (err) {
    return [failure('connection', err)];
  }
  try {
    out.push({ check: 'connection', status: 'ok', message: `connected to ${db.connection.host}:${db.connection.port} as ${db.connection.user}` });
    out.push(...versionProbes(db, await queryServerVersionNum(client)));
    const role = await queryRoleRights(client);
    out.push(
      role?.replication || role?.superuser
        ? { check: 'privileges', status: 'ok', message: `role ${db.connection.user} has REPLICATION` }
        : { check: 'privileges', status: 'critical', message: `role ${db.connection.user} lacks REPLICATION: ALTER ROLE ${db.connection.user} REPLICATION` },
    );
    const settings = await queryReplicationSettings(client);
    out.push(
      settings.wal_level === 'replica' || settings.wal_level === 'logical'
        ? { check: 'wal_level', status: 'ok', message: `wal_level = ${settings.wal_level}` }
        : { check: 'wal_level', status: 'critical', message: `wal_level = ${settings.wal_level ?? '?'}: WAL for physical replication needs replica or logical (restart required)` },
    );
    const senders = Number(settings.max_wal_senders ?? 0);
    const slots = Number(settings.max_replication_slots ?? 0);
    out.push(
      senders > 0 && slots > 0
        ? { check: 'max_wal_senders', status: 'ok', message: `max_wal_senders = ${senders}, max_replication_slots = ${slots}` }
        : { check: 'max_wal_senders', status: 'critical', message: `max_wal_senders = ${senders}, max_replication_slots = ${slots}: both must be at least 1 (restart required)` },
    );
    out.push(await slotProbe(client, db));
    out.push(await replicationProbe(db, repo));
    if (o.archive) out.push(await archiveProbe(client, db, repo, o.archiveTimeoutMs));
  } catch (err) {
    out.push(failure('query', err));
  } finally {
    await client.end().catch(() => undefined);
  }
  return out;
}

/**
 * The server's major is one pitrd supports, and this host has that major's server binaries:
 * without them WAL is still archived and backups taken, but restores and branches of the
 * database are refused (POSTGRES_BINARIES_MISSING), so it is a warning, not a pass.
 */
function versionProbes(db: DatabaseConfig, versionNum: number): CheckResult[] {
  const major = majorOf(versionNum);
  if (!isSupportedMajor(major)) {
    try {
      assertSupportedVersion(versionNum, `database ${db.name}`);
    } catch (err) {
      return [failure('version', err)];
    }
  }
  const version: CheckResult = { check: 'version', status: 'ok', message: `PostgreSQL ${major} (server_version_num ${versionNum})` };
  try {
    return [version, { check: 'binaries', status: 'ok', message: `PostgreSQL ${major} server binaries for restores: ${binDirFor(major, hostBinDirs())}` }];
  } catch (err) {
    return [version, { check: 'binaries', status: 'warning', message: `restores and branches of database ${db.name} will be refused: ${errorMessage(err)}` }];
  }
}

async function slotProbe(client: pg.Client, db: DatabaseConfig): Promise<CheckResult> {
  const slot = await querySlotState(client, db.slot_name);
  if (!slot) return { check: 'slot', status: 'critical', message: `replication slot ${db.slot_name} does not exist: start pitrd serve (it creates the slot), or WAL written meanwhile is not protected` };
  if (slot.wal_status === 'lost') return { check: 'slot', status: 'critical', message: `replication slot ${db.slot_name} has lost WAL the receiver never got (wal_status lost): take a new base backup` };
  if (!slot.active) return { check: 'slot', status: 'warning', message: `replication slot ${db.slot_name} exists but no receiver streams from it: is pitrd serve running? (the server keeps WAL meanwhile)` };
  return { check: 'slot', status: 'ok', message: `replication slot ${db.slot_name} is active` };
}

/** A replication connection (pg_hba.conf's replication line) to the same system the repository holds. */
async function replicationProbe(db: DatabaseConfig, repo: DatabaseRepository | null): Promise<CheckResult> {
  let client: pg.Client | null = null;
  try {
    client = await connectSource({ ...sourceConnection(db), connectTimeoutMs: 10_000 }, { applicationName: 'pitrd check', replication: true, queryTimeoutMs: 15_000 });
    const id = (await identifySystem(client)).systemId;
    const known = repo ? await repo.info() : null;
    if (known && known.system_identifier !== id) {
      return { check: 'replication', status: 'critical', message: `the server's system identifier ${id} is not the repository's ${known.system_identifier} for database ${db.name}: a different cluster answers there` };
    }
    return { check: 'replication', status: 'ok', message: `replication connection accepted (system ${id})` };
  } catch (err) {
    return failure('replication', err);
  } finally {
    await client?.end().catch(() => undefined);
  }
}

/** Switch a segment on the server and wait until it is in the repository: the archive, end to end. */
async function archiveProbe(client: pg.Client, db: DatabaseConfig, repo: DatabaseRepository | null, timeoutMs: number): Promise<CheckResult> {
  if (!repo) return { check: 'archive', status: 'critical', message: `the repository holds nothing for database ${db.name} yet: start pitrd serve` };
  let segment: string;
  try {
    segment = await switchWal(client);
  } catch (err) {
    if ((err as { code?: string }).code === '42501') {
      return { check: 'archive', status: 'warning', message: `role ${db.connection.user} may not switch WAL, so the archive was not tested end to end: GRANT EXECUTE ON FUNCTION pg_switch_wal() TO ${db.connection.user}` };
    }
    throw err;
  }
  const timeline = Number.parseInt(segment.slice(0, 8), 16);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await repo.wal.hasSegment(timeline, segment)) return { check: 'archive', status: 'ok', message: `switched segment ${segment} reached the repository` };
    if (Date.now() > deadline) return { check: 'archive', status: 'critical', message: `switched segment ${segment} did not reach the repository within ${Math.round(timeoutMs / 1000)} s: is pitrd serve running and uploading?` };
    await sleep(250);
  }
}
