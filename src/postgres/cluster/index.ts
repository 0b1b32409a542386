/**
 * The local cluster runner: the PostgreSQL servers pitrd itself starts (restores, branches,
 * managed instances, the demo) — pg_ctl with pitrd's fixed command-line settings, as the `postgres` OS user when root,
 * in an allow-listed environment, on a free loopback port.
 */
export { asOwner } from './as-owner.js';
export { childEnv } from './child-env.js';
export { postgresOsUser } from './os-user.js';
export { freePort, portIsFree } from './port.js';
export { DEFAULT_PG_BIN, isRunning, logTail, pgCtlStart, pgCtlStop, query, waitRecoveryEnd, type RecoveryServer } from './server.js';
export { serverSettings, NEUTRALISED_SETTING_NAMES, type ServerPlacement } from './server-settings.js';
export { pgIsRunning, pgStart, pgStop, serverAt } from './pg-ctl.js';
export { generatePassword, initManagedCluster, writeManagedHba, MANAGED_APP_DATABASE, MANAGED_APP_ROLE, MANAGED_REPLICATION_ROLE, setupManagedRoles } from './managed.js';
export { binDirFor, dataDirMajor, discoverBinDirs, hostBinDirs, restoreBinaries, setConfiguredBinDirs, usualPlaces, type BinDirs, type RestoreBinaries } from './bin-dirs.js';
export { MAX_TABLES_LISTED, runDrillChecks, type DrillCheckFailure, type DrillCheckResult, type DrillCheckTarget } from './drill-checks.js';
