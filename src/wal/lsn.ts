import { PitrdError } from '../errors.js';
import type { Lsn } from '../types.js';

/** `16/B374D848` → bigint. Throws WAL_INVALID naming the text when it is not an LSN. */
export function parseLsn(text: string): Lsn {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text.trim());
  if (!m) throw new PitrdError('VALIDATION_ERROR', `"${text}" is not an LSN (expected hex "X/Y", e.g. 0/16B3748)`, { context: { lsn: text } });
  return (BigInt('0x' + m[1]) << 32n) | BigInt('0x' + m[2]);
}

/** bigint → `16/B374D848` (upper case, no padding: PostgreSQL's own %X/%X). */
export function formatLsn(lsn: Lsn): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

export const INVALID_LSN: Lsn = 0n;
