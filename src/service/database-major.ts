/**
 * A protected database's PostgreSQL major, as the database routes show it and registration
 * checks it: read from the server when it is registered (an unsupported major is refused there),
 * else learnt from the repository's database.json once the receiver or a base backup reached the
 * server.
 */
import type { Logger } from 'pino';
import type { RegisterDatabaseInput } from '../api/databases/index.js';
import { loggedError } from '../errors.js';
import { assertSupportedVersion, readServerVersionNum, type SourceConnection } from '../postgres/index.js';
import type { Repository } from '../repository/index.js';
import { entryKey, type DatabaseEntry } from './entry.js';

/** How often an unknown major is looked for in database.json again (lists stay cheap). */
const ASK_AGAIN_MS = 10_000;

/**
 * The major of a server being registered: POSTGRES_VERSION_UNSUPPORTED (naming the version;
 * nothing is stored) when it answers with one pitrd does not support. null when it cannot be
 * asked (down, not created yet, refusing the credentials): the registration is then accepted,
 * and its receiver checks the version when PITR is enabled (its status and the receiver_down
 * alert then carry POSTGRES_VERSION_UNSUPPORTED).
 */
export async function probeRegistrationMajor(input: RegisterDatabaseInput, serverVersion: ((conn: SourceConnection) => Promise<number>) | undefined, logger: Logger): Promise<number | null> {
  const conn: SourceConnection = {
    name: input.name, host: input.host, port: input.port, user: input.user, database: input.dbname, tls: { sslmode: input.sslmode },
    ...(input.password !== undefined ? { password: input.password } : {}),
  };
  let versionNum: number;
  try {
    versionNum = await (serverVersion ?? readServerVersionNum)(conn);
  } catch (err) {
    logger.warn({ database: input.name, host: input.host, port: input.port, err: loggedError(err) }, 'could not read the server version at registration; the receiver checks it when it connects');
    return null;
  }
  return assertSupportedVersion(versionNum, `database "${input.name}" (${input.host}:${input.port})`);
}

/** Fills in `DatabaseEntry.major` from database.json. A major, once known, does not change under a database (pg_upgrade makes a new system). */
export class MajorLearner {
  private readonly askedAt = new Map<string, number>();

  constructor(private readonly repo: Repository) {}

  async learn(e: DatabaseEntry): Promise<void> {
    if (e.major !== null) return;
    const key = entryKey(e.project, e.name);
    const now = Date.now();
    if (now - (this.askedAt.get(key) ?? -Infinity) < ASK_AGAIN_MS) return;
    this.askedAt.set(key, now);
    try {
      e.major = (await this.repo.database(e).info())?.pg_version ?? null;
    } catch {
      // Storage unreachable: still unknown, asked again later.
    }
  }
}
