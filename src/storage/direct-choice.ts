/**
 * Whether the fs driver writes the bulk of large objects with O_DIRECT (fs-direct.ts) or through
 * the page cache: `storage.direct_io` = auto (the default) | on | off.
 *
 *  - auto: direct wherever the file system takes it (checked per object by one direct write),
 *    buffered elsewhere (tmpfs);
 *  - on: direct, and a file system that refuses it is an error naming the setting, not a
 *    silent fallback;
 *  - off: always through the page cache (flushed as it goes, fs-write.ts).
 *
 * Why direct by default, measured side by side with pg_basebackup -Ft (issue 20, scale 130,
 * 2 GB, 3 rounds, load 19-34 on 2 cores): direct 1.01x pg_basebackup's time and 3.4 s of client
 * CPU, buffered 1.90x and 8.5 s (page-cache copies and fresh pages). The direct path once
 * stalled (4.8x on another machine) because it found aligned memory by probing; it now takes
 * page-aligned memory (aligned-memory.ts). A first `auto` that measured both paths on 48 MiB
 * chose buffered in that very run: a short probe sees the page cache absorb the writes, not the
 * sustained cost, so the choice is by file system support, and `off` stays for disks where
 * direct writes are slow.
 */
import { PitrdError } from '../errors.js';

export const DIRECT_IO_MODES = ['auto', 'on', 'off'] as const;
export type DirectIoMode = (typeof DIRECT_IO_MODES)[number];

/** What `on` throws where the file system at `root` does not take O_DIRECT. */
export function directRefused(root: string): PitrdError {
  return new PitrdError('CONFIG_INVALID', `storage.direct_io is on, but the file system of ${root} does not take O_DIRECT writes (use auto or off)`, {
    context: { key: 'storage.direct_io', path: root },
  });
}
