/**
 * At most one base backup per database at a time, in this process.
 *
 * A second request while one runs is refused with BACKUP_IN_PROGRESS naming the running backup,
 * rather than joined: joining would hand the caller a backup taken with someone else's label,
 * type and options while pretending to honour theirs. The caller can poll the named backup.
 *
 * Across daemons a database is owned by the daemon that holds its replication slot (DESIGN.md),
 * so an in-process lock is the whole story for now.
 */
import { PitrdError } from '../errors.js';

export class BackupLocks {
  private readonly held = new Map<string, string>();

  /** Take the lock of `database` for `backupId`; throws BACKUP_IN_PROGRESS when held. */
  acquire(database: string, backupId: string): () => void {
    const running = this.held.get(database);
    if (running !== undefined) {
      throw new PitrdError('BACKUP_IN_PROGRESS', `a base backup of database "${database}" is already running (${running}); wait for it to finish`, {
        context: { database, backup_id: running },
      });
    }
    this.held.set(database, backupId);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (this.held.get(database) === backupId) this.held.delete(database);
    };
  }

  holder(database: string): string | null {
    return this.held.get(database) ?? null;
  }
}
