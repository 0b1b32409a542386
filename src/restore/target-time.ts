import { PitrdError } from '../errors.js';

/** RFC 3339 (T or space, seconds required, up to 6 fractional digits, Z or ±hh:mm): what PostgreSQL and a commit time compare at. */
const TIME = /^(\d{4}-\d\d-\d\d)[Tt ](\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?([Zz]|[+-]\d\d:\d\d)$/;

/**
 * A recovery target time as UTC `YYYY-MM-DDTHH:MM:SS.ffffffZ` (microseconds kept exactly), or
 * VALIDATION_ERROR: the CLI and the API refuse a malformed time with the same code and words.
 */
export function normaliseTime(s: string, as = 'recovery target time'): string {
  const m = TIME.exec(s);
  const ms = m ? Date.parse(`${m[1]}T${m[2]}${m[4]!.toUpperCase()}`) : Number.NaN;
  // Date.parse rolls 2026-02-30 over to March: a date that does not exist is refused instead.
  if (!m || Number.isNaN(ms) || new Date(Date.parse(`${m[1]}T00:00:00Z`)).toISOString().slice(0, 10) !== m[1]) {
    throw new PitrdError('VALIDATION_ERROR', `${as}: "${s}" is not an RFC 3339 time such as 2026-01-25T14:30:00Z (seconds and a zone required, at most 6 fractional digits)`, {
      context: { target_time: s, fields: [as] },
    });
  }
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, `.${(m[3] ?? '').padEnd(6, '0')}Z`);
}
