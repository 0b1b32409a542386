export { startPostgres, makeTempDir, asPostgres, postgresUser, PG_BIN } from './postgres.js';
export type { PgCluster, PgConnection, StartPostgresOptions } from './postgres.js';
export { freePort } from './ports.js';
export { s3StorageConfig, startS3 } from './s3.js';
export type { S3Server, StartS3Options } from './s3.js';
export { startStandby } from './standby.js';
export { cleanUp } from './clean-up.js';
export type { StandbyCluster } from './standby.js';
export { cliJson, cliJsonError } from './cli-json.js';
