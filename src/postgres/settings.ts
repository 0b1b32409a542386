import { PitrdError } from '../errors.js';

/** `16MB` → 16777216: a size setting as SHOW and current_setting() print it (kB/MB/GB/TB units). */
export function parseSizeSetting(text: string): number {
  const m = /^(\d+)\s*(B|kB|MB|GB|TB)?$/.exec(text.trim());
  if (!m) throw new PitrdError('REPLICATION_ERROR', `cannot parse size setting "${text}"`, { context: { value: text } });
  const mult: Record<string, number> = { B: 1, kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };
  return Number(m[1]) * mult[m[2] ?? 'B']!;
}
