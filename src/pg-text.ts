/**
 * User strings that end up in a file PostgreSQL reads (postgresql.auto.conf, backup_label) or in a
 * pg_ctl command line: checked by ONE rule and quoted by ONE function per grammar, so a restore
 * point name or a backup label can never add a line, a setting or a shell word.
 */
import { PitrdError } from './errors.js';

/** C0 controls and DEL: a newline ends a config line or a backup_label field; a NUL ends a C string. */
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Why `value` may not reach a PostgreSQL file, or null when it may. */
export function pgTextProblem(value: string): string | null {
  const m = CONTROL.exec(value);
  if (!m) return null;
  return `contains a control character (U+${m[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')} at offset ${m.index}); PostgreSQL would read it as the end of a line or of the value`;
}

/** VALIDATION_ERROR naming `field` when `value` holds a control character. */
export function assertPgText(field: string, value: string): void {
  const problem = pgTextProblem(value);
  if (problem !== null) throw new PitrdError('VALIDATION_ERROR', `${field}: ${problem}`, { context: { fields: [field] } });
}

/**
 * A value as a single-quoted string of PostgreSQL's configuration file grammar (guc-file.l: a
 * STRING is '…' where `''` is a quote and a backslash escapes the next character, e.g. `\n`,
 * `\\`, `\'`). Doubling quotes alone is not enough: `\'` would end the string early. Control
 * characters are refused rather than escaped: no setting pitrd writes needs one.
 */
export function pgConfQuote(value: string, field = 'value'): string {
  assertPgText(field, value);
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/**
 * One word for /bin/sh (pg_ctl passes its `-o` options through a shell): single-quoted, a quote
 * written as '\''. Control characters are refused, as for the config grammar.
 */
export function shellQuote(value: string, field = 'value'): string {
  assertPgText(field, value);
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
