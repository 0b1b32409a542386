export { startDaemon } from './daemon.js';
export type { Daemon, StartDaemonOptions } from './daemon.js';
