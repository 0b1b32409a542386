/**
 * Shared memory whose start is page-aligned, known without asking the kernel, for O_DIRECT.
 *
 * Why: direct I/O wants the memory address aligned (4096 covers every block size here), and
 * JavaScript cannot see an address. An ordinary Buffer or SharedArrayBuffer is only 16-byte
 * aligned, so the first direct writer found the aligned start of each buffer by probing: a
 * direct write of one block from each of up to 256 offsets, EINVAL for all but one, each a
 * trip through the threadpool. Measured (issue 20): 744 failed probes to write a 512 MiB
 * object from a base backup's pooled blocks, and on a loaded machine those trips were most of
 * the time of the whole write. A WebAssembly memory is mapped by whole pages, so its offset 0
 * is page-aligned by construction; it is shared (a SharedArrayBuffer) when asked, which the
 * sha256 thread needs to hash blocks in place.
 */

/** Direct I/O alignment of file offsets, lengths and memory. */
export const PAGE = 4096;
const WASM_PAGE = 64 * 1024;

/** Node's WebAssembly.Memory, typed here (this project's lib settings carry no WebAssembly types). */
const WasmMemory = (globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number; maximum: number; shared: boolean }) => { buffer: SharedArrayBuffer } } }).WebAssembly.Memory;

/** Memories known to start page-aligned. */
const aligned = new WeakSet<ArrayBufferLike>();

/**
 * `bytes` (rounded up to whole 64 KiB) of zeroed shared memory starting at a page boundary; a
 * plain SharedArrayBuffer, not known to be aligned, where WebAssembly memory cannot be had.
 */
export function alignedShared(bytes: number): Buffer {
  const pages = Math.max(1, Math.ceil(bytes / WASM_PAGE));
  try {
    const memory = new WasmMemory({ initial: pages, maximum: pages, shared: true });
    aligned.add(memory.buffer);
    return Buffer.from(memory.buffer, 0, bytes);
  } catch {
    return Buffer.from(new SharedArrayBuffer(bytes));
  }
}

/** True when `view` starts at a page boundary of memory from alignedShared(). */
export function isPageAligned(view: Buffer): boolean {
  return aligned.has(view.buffer) && view.byteOffset % PAGE === 0;
}
