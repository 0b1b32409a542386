/**
 * How every command reports: the result or the error, on a human terminal or as one JSON
 * document, and the exit status (./exit-codes.ts).
 *
 * With --json, stdout holds exactly one document in the API's envelope:
 * `{"success":true,"data":…}` or `{"success":false,"error":{"code","message",…}}`. Errors also go
 * to stderr as `pitrd: CODE: message` (the one error prefix), so a human watching a script sees
 * them. Commands return an Outcome and never print their result or set the exit status themselves.
 */
import type { Command } from 'commander';
import { isPitrdError, type ErrorCode } from '../errors.js';
import { EXIT, exitStatusOf } from './exit-codes.js';

export interface Outcome<T = unknown> {
  /** The result: the `data` of the JSON envelope. */
  data: T;
  /** The human rendering of the result (without --json). */
  human?: () => string;
  /** The command ran but found a problem (exit 1). The JSON envelope is still success: true. */
  problem?: boolean;
}

export interface ReportedError {
  code: ErrorCode | 'INTERNAL_ERROR';
  message: string;
  /** Extra machine-readable fields (e.g. the configuration problems, one per line). */
  details?: Record<string, unknown>;
}

/** Write to stdout, one line (or block) ending in a newline. */
export function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

export function envelope(data: unknown): string {
  return JSON.stringify({ success: true, data }, null, 2);
}

export function errorEnvelope(e: ReportedError): string {
  return JSON.stringify({ success: false, error: { code: e.code, message: e.message, ...(e.details ?? {}) } }, null, 2);
}

export function toReportedError(err: unknown): ReportedError {
  if (isPitrdError(err)) {
    // A configuration error says which keys are wrong, one problem per key, in every command.
    if (err.code === 'CONFIG_INVALID') {
      const problems = Array.isArray(err.context.problems) ? (err.context.problems as unknown[]) : [err.message];
      return { code: err.code, message: err.message, details: { valid: false, problems } };
    }
    return { code: err.code, message: err.message };
  }
  return { code: 'INTERNAL_ERROR', message: err instanceof Error ? err.message : String(err) };
}

/** Print an error (stderr always; stdout too as an envelope when json) and set the exit status. */
export function reportError(err: unknown, json: boolean): void {
  const e = toReportedError(err);
  process.stderr.write(`pitrd: ${e.code === 'INTERNAL_ERROR' ? '' : `${e.code}: `}${e.message}\n`);
  if (json) out(errorEnvelope(e));
  process.exitCode = e.code === 'INTERNAL_ERROR' ? EXIT.FAILED : exitStatusOf(e.code);
}

/** Whether the command (or a parent) was given --json. */
export function wantsJson(cmd: Command): boolean {
  return cmd.optsWithGlobals<{ json?: boolean }>().json === true;
}

/**
 * Wrap a command's action: print its Outcome (human or envelope), map a thrown error to its
 * message and exit status. `this` is the commander Command, as in a plain action.
 */
export function reporting<A extends unknown[]>(fn: (this: Command, ...args: A) => Promise<Outcome | void> | Outcome | void) {
  return async function (this: Command, ...args: A): Promise<void> {
    const json = wantsJson(this);
    try {
      const r = await fn.apply(this, args);
      if (!r) return;
      if (json) out(envelope(r.data));
      else if (r.human) {
        const text = r.human();
        if (text !== '') out(text);
      }
      if (r.problem) process.exitCode = EXIT.FAILED;
    } catch (err) {
      reportError(err, json);
    }
  };
}
