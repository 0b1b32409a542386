export { probeDatabase } from './probes.js';
export type { CheckResult, CheckStatus, ProbeOptions } from './probes.js';
export { databaseMajors, hostBinaries, majorsText } from './majors.js';
export type { DatabaseMajor } from './majors.js';
