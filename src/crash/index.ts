export { CRASH_POINTS, crashPoint, flushTrace, parseCrashSpec, type CrashPointName } from './crash-points.js';
