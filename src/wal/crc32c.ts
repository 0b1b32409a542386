/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78): the checksum PostgreSQL puts in every
 * WAL record (xl_crc). Table-driven, one byte at a time — fast enough for summarising segments
 * and free of native dependencies.
 */
const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** Feed `bytes` into a running (un-finalised) CRC; start from CRC32C_INIT. */
export function crc32cUpdate(crc: number, bytes: Uint8Array, start = 0, end = bytes.length): number {
  let c = crc;
  for (let i = start; i < end; i++) c = TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return c >>> 0;
}

export const CRC32C_INIT = 0xffffffff;

export function crc32cFinal(crc: number): number {
  return (crc ^ 0xffffffff) >>> 0;
}

export function crc32c(bytes: Uint8Array): number {
  return crc32cFinal(crc32cUpdate(CRC32C_INIT, bytes));
}
