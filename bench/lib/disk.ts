/**
 * The machine's own disk figures, printed beside every benchmark's ratios so that a figure is
 * read against the disk it ran on: `dd` of 1 GiB in 8 MiB writes into the benchmark's scratch
 * directory, once through the page cache with an fsync at the end (conv=fsync) and once with
 * O_DIRECT (oflag=direct, also fsync'd). The file is removed after each.
 */
import { execa } from 'execa';
import { rmSync } from 'node:fs';
import { join } from 'node:path';

export interface DiskFigures {
  bufferedFsyncMBs: number | null;
  directMBs: number | null;
}

async function ddMBs(dir: string, flags: string[]): Promise<number | null> {
  const file = join(dir, `dd-${process.pid}`);
  try {
    const r = await execa('dd', ['if=/dev/zero', `of=${file}`, 'bs=8M', 'count=128', 'conv=fsync', ...flags], { reject: false, env: { LC_ALL: 'C' } });
    // "1073741824 bytes (1.1 GB, 1.0 GiB) copied, 0.712385 s, 1.5 GB/s"
    const m = /(\d+) bytes .* copied, ([\d.]+) s/.exec(r.stderr);
    return r.exitCode === 0 && m ? Number(m[1]) / Number(m[2]) / 1e6 : null;
  } finally {
    rmSync(file, { force: true });
  }
}

export async function diskFigures(dir: string): Promise<DiskFigures> {
  return { bufferedFsyncMBs: await ddMBs(dir, []), directMBs: await ddMBs(dir, ['oflag=direct']) };
}

/** One line for a benchmark's report, with the load when measured (the machine may be shared). */
export async function describeDisk(dir: string): Promise<string> {
  const load = (await execa('cat', ['/proc/loadavg'])).stdout.split(' ').slice(0, 3).join(' ');
  const d = await diskFigures(dir);
  const f = (x: number | null) => (x === null ? 'n/a' : `${x.toFixed(0)} MB/s`);
  return `disk (dd 1 GiB, bs=8M, into ${dir}): buffered+fsync ${f(d.bufferedFsyncMBs)}, direct ${f(d.directMBs)}; loadavg ${load}`;
}
