export const MIB = 1024 * 1024;
/** S3's limits on multipart uploads. */
export const S3_MIN_PART = 5 * MIB;
export const S3_MAX_PARTS = 10_000;
/** The largest object a stream of unknown length may become (1 TiB). */
export const DEFAULT_MAX_OBJECT_SIZE = 1024 * 1024 * MIB;

/**
 * Multipart part size: the smallest whole number of MiB (at least 5 MiB) that fits the object,
 * or for an unknown length the largest object we accept, in 10,000 parts. Small parts keep
 * memory low; the 10,000-part cap is what forces them up (1 TiB needs ~105 MiB parts).
 */
export function choosePartSize(contentLength: number | undefined, maxObjectSize: number = DEFAULT_MAX_OBJECT_SIZE): number {
  const total = contentLength ?? maxObjectSize;
  const needed = Math.ceil(total / S3_MAX_PARTS);
  return Math.max(S3_MIN_PART, Math.ceil(needed / MIB) * MIB);
}
