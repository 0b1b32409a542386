/**
 * What crosses between the daemon's main thread and its worker threads (./receiver-thread.ts,
 * ./catalog-thread.ts): a handle on the repository the daemon already opened, and errors.
 *
 * A worker reopens the repository from the repo.json the daemon checked at start, so it reads
 * nothing from storage to begin: a thread started during a storage outage still works (the
 * receiver keeps streaming into its spool). Errors keep their stable code, context and
 * retryability across the thread boundary, where a thrown object would arrive as a plain Error.
 */
import { repositoryOptions, storageOptions, type Config } from '../config/index.js';
import { PitrdError, errorMessage, isPitrdError, type ErrorCode } from '../errors.js';
import { reopenRepository, type RepoJson, type Repository } from '../repository/index.js';
import { createObjectStore, type StorageConfig } from '../storage/index.js';

export interface RepositoryHandoff {
  storage: StorageConfig;
  compression: ReturnType<typeof repositoryOptions>['compression'];
  key?: Uint8Array;
  /** repo.json as the daemon's own handle checked it. */
  repoJson: RepoJson;
}

export function repositoryHandoff(config: Config, repoJson: RepoJson): RepositoryHandoff {
  const r = repositoryOptions(config);
  return { storage: storageOptions(config), compression: r.compression, repoJson, ...(r.key ? { key: new Uint8Array(r.key) } : {}) };
}

/** The worker's own handle on the repository (no I/O). */
export function openHandedRepository(h: RepositoryHandoff): Repository {
  return reopenRepository(createObjectStore(h.storage), h.repoJson, { compression: h.compression, ...(h.key ? { key: Buffer.from(h.key) } : {}) });
}

export interface WireError {
  code: string | null;
  message: string;
  context: Record<string, unknown>;
  retryable: boolean;
}

export function toWireError(err: unknown): WireError {
  return isPitrdError(err)
    ? { code: err.code, message: err.message, context: { ...err.context }, retryable: err.retryable }
    : { code: null, message: errorMessage(err), context: {}, retryable: false };
}

export function fromWireError(e: WireError): Error {
  return e.code === null ? new Error(e.message) : new PitrdError(e.code as ErrorCode, e.message, { context: e.context as never, retryable: e.retryable });
}
