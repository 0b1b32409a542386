/**
 * Shared by the wal-*.test.ts files: run the real pg_waldump on segment copies and parse its
 * text, and read a run of segments with our parser carrying the continuation between them.
 */
import { execa } from 'execa';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  decodeRecord,
  formatLsn,
  parseLsn,
  readSegment,
  summarizeSegment,
  summaryFromJson,
  summaryToJson,
  type SegmentSummary,
  type WalContinuation,
  type WalEvent,
} from '../../src/wal/index.js';
import { PG_BIN } from '../harness/index.js';

export interface FoundXact {
  kind: string;
  lsn: string;
  xid: number;
  time: string;
}

export interface WaldumpResult {
  xacts: FoundXact[];
  restorePoints: { lsn: string; name: string }[];
  lsns: Set<string>;
  endOfRecovery: string[];
}

/** pg_waldump's "2026-11-23 08:55:01.12 UTC" → our ISO form with six fractional digits. */
function dumpTimeToIso(t: string): string {
  const m = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(?:\.(\d+))? UTC$/.exec(t);
  if (!m) throw new Error(`unexpected pg_waldump time "${t}"`);
  return `${m[1]}T${m[2]}.${(m[3] ?? '').padEnd(6, '0')}Z`;
}

export function parseWaldump(text: string): WaldumpResult {
  const out: WaldumpResult = { xacts: [], restorePoints: [], lsns: new Set(), endOfRecovery: [] };
  for (const line of text.split('\n')) {
    const head = /^rmgr: (\S+)\s+len \(rec\/tot\):\s+\d+\/\s*\d+, tx:\s+(\d+), lsn: ([0-9A-F]+\/[0-9A-F]+), prev [^,]+, desc: (.*)$/.exec(line);
    if (!head) continue;
    const [, rmgr, tx, rawLsn, desc] = head as unknown as [string, string, string, string, string];
    const lsn = formatLsn(parseLsn(rawLsn)); // pg_waldump zero-pads the low half
    out.lsns.add(lsn);
    if (rmgr === 'Transaction') {
      const m = /^(COMMIT|ABORT|COMMIT_PREPARED|ABORT_PREPARED) (?:(\d+): )?(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? UTC)/.exec(desc);
      if (!m) continue;
      const kind = m[1]!.startsWith('COMMIT') ? 'commit' : 'abort';
      out.xacts.push({ kind, lsn, xid: Number(m[2] ?? tx), time: dumpTimeToIso(m[3]!) });
    } else if (rmgr === 'XLOG') {
      const rp = /^RESTORE_POINT (.*)$/.exec(desc);
      if (rp) out.restorePoints.push({ lsn, name: rp[1]! });
      if (desc.startsWith('END_OF_RECOVERY')) out.endOfRecovery.push(lsn);
    }
  }
  return out;
}

/** pg_waldump (the real binary, TZ=UTC) over copies of `names`, which must be consecutive. */
export async function waldump(names: string[], bytes: ReadonlyMap<string, Buffer>): Promise<WaldumpResult> {
  const dir = mkdtempSync(join(tmpdir(), 'pitrd-waldump-'));
  try {
    for (const n of names) writeFileSync(join(dir, n), bytes.get(n)!);
    const res = await execa(join(PG_BIN, 'pg_waldump'), ['-p', dir, names[0]!, names[names.length - 1]!], {
      env: { ...process.env, TZ: 'UTC' },
      reject: false,
      maxBuffer: 512 * 1024 * 1024,
    });
    if (!res.stdout.includes('rmgr:')) throw new Error(`pg_waldump printed no records: ${res.stderr}`);
    return parseWaldump(res.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface OurRun {
  events: WalEvent[];
  summaries: SegmentSummary[];
  lsns: Set<string>;
  sizes: number[];
}

/** Our parser over the run, carrying the continuation (through its JSON form) segment to segment. */
export function parseRun(names: string[], bytes: ReadonlyMap<string, Buffer>): OurRun {
  let cont: WalContinuation | null = null;
  const run: OurRun = { events: [], summaries: [], lsns: new Set(), sizes: [] };
  for (const name of names) {
    const buf = bytes.get(name)!;
    const r = readSegment(buf, { name, continuation: cont });
    for (const rec of r.records) {
      run.lsns.add(formatLsn(rec.lsn));
      run.sizes.push(rec.bytes.length);
      run.events.push(decodeRecord(rec));
    }
    const s = summarizeSegment(buf, { name, continuation: cont });
    run.summaries.push(s);
    cont = summaryFromJson(JSON.parse(JSON.stringify(summaryToJson(s)))).continuation;
  }
  return run;
}

export function xactsOf(events: WalEvent[]): FoundXact[] {
  return events
    .filter((e): e is Extract<WalEvent, { kind: 'commit' | 'abort' }> => e.kind === 'commit' || e.kind === 'abort')
    .map((e) => ({ kind: e.kind, lsn: formatLsn(e.lsn), xid: e.xid, time: e.time }));
}
