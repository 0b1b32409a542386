import type { ErrorCode } from '../errors.js';

/** The API reference's response shapes: every response is one of these two. */
export interface SuccessEnvelope<T> {
  success: true;
  data: T;
}

export interface ErrorEnvelope {
  success: false;
  error: { code: ErrorCode; message: string };
}

export function ok<T>(data: T): SuccessEnvelope<T> {
  return { success: true, data };
}

export function fail(code: ErrorCode, message: string): ErrorEnvelope {
  return { success: false, error: { code, message } };
}
