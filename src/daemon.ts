/** The daemon entry point: see ./daemon/daemon.ts. */
export * from './daemon/index.js';
