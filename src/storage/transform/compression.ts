import { constants, createGunzip } from 'node:zlib';
import { PassThrough, type Transform } from 'node:stream';
import { PitrdError } from '../../errors.js';
import type { CodecOptions } from '../types.js';
import { ParallelGzip } from './parallel-gzip.js';

/**
 * Compression algorithms this build supports. zstd and lz4 are part of the CodecOptions type
 * (the repository format reserves them) but no npm package streams them without a compiler on
 * these machines, so they are refused here with a clear error rather than half-supported.
 */
export const SUPPORTED_COMPRESSION = ['none', 'gzip'] as const;

export function assertCompressionSupported(compression: CodecOptions['compression']): void {
  if (!(SUPPORTED_COMPRESSION as readonly string[]).includes(compression)) {
    throw new PitrdError(
      'CONFIG_INVALID',
      `compression ${JSON.stringify(compression)} is not supported by this pitrd build (supported: ${SUPPORTED_COMPRESSION.join(', ')})`,
      { context: { key: 'repository.compression', value: compression } },
    );
  }
}

/** File-name extension conventionally used for objects of this compression. */
export function compressionExtension(compression: CodecOptions['compression']): string {
  return compression === 'gzip' ? '.gz' : compression === 'none' ? '' : `.${compression}`;
}

export function createCompressor(codec: Pick<CodecOptions, 'compression' | 'level'>): Transform {
  assertCompressionSupported(codec.compression);
  if (codec.compression === 'none') return new PassThrough();
  // Level 6 is zlib's balance point; WAL compresses well even at low levels. Multi-member gzip
  // compressed on the threadpool (see parallel-gzip.ts); createDecompressor reads it, and the
  // single-member objects written before, alike.
  return new ParallelGzip({ level: codec.level ?? 6 });
}

export function createDecompressor(codec: Pick<CodecOptions, 'compression'>): Transform {
  assertCompressionSupported(codec.compression);
  if (codec.compression === 'none') return new PassThrough();
  return createGunzip({ chunkSize: 64 * 1024 });
}

/** zlib's errno for "input ended early" (a truncated gzip member). */
export const ZLIB_TRUNCATED = constants.Z_BUF_ERROR;
