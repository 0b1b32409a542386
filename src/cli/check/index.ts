export { probeDatabase } from './probes.js';
export type { CheckResult, CheckStatus, ProbeOptions } from './probes.js';
