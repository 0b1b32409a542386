/**
 * Everything pitrd says to the PostgreSQL servers it protects (sources): connections and TLS
 * (libpq's sslmode), the one error classification, SQL questions about slots and server facts,
 * and the replication protocol (./replication). The local cluster runner is ./cluster.
 */
export { connectSource } from './source-client.js';
export type { SourceClientOptions } from './source-client.js';
export { describeSource } from './source.js';
export type { SourceConnection, SourceTls } from './source.js';
export { SSL_MODES, attemptFailure, tlsPlan, tryNext } from './tls-plan.js';
export type { Attempt, AttemptFailure, SslMode, TlsPlan, Verification } from './tls-plan.js';
export { classifyPgError } from './pg-errors.js';
export { parseSizeSetting } from './settings.js';
export { queryReplicationSettings, queryRoleRights, queryServerVersionNum, switchWal } from './server-checks.js';
export type { ReplicationSettings } from './server-checks.js';
export { SqlConnection, readServerVersionNum, withSqlConnection } from './sql-connection.js';
export type { ServerFacts, SqlConnectionParams } from './sql-connection.js';
export { defaultSlotName, dropInactiveSlot, projectSlotName, querySlotPosition, querySlotState, slotRetainedBytes } from './slots.js';
export type { SlotState } from './slots.js';
export * from './replication/index.js';
export { NEWEST_SUPPORTED_MAJOR, OLDEST_SUPPORTED_MAJOR, SUPPORTED_MAJORS, assertSupportedVersion, hasNewBaseBackupProtocol, hasReadReplicationSlot, isSupportedMajor, majorOf } from './versions.js';
export { takeRelationMap } from './relations.js';
export type { RelationMapTaken } from './relations.js';
