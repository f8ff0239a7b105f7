import type { CacheStore } from '../cache/cache-store.js';
import { FLAG_SCAN_BATCH, FLAG_WINDOW_AFTER, FLAG_WINDOW_BEFORE } from '../model/limits.js';
import type { MessageMeta, Uid } from '../model/types.js';
import { indexOfUid, normalizeRanges, type UidRange } from '../model/uid-set.js';
import { atom } from '../upstream/imap-tokens.js';
import type { UpstreamConnection } from '../upstream/upstream-connection.js';
import { sameFlags, type SyncFindings } from './sync-findings.js';

/** What a flag scan found besides flag changes. */
export interface FlagScan {
  /** Cached messages upstream no longer has, ascending. */
  expunged: Uid[];
  /** Messages upstream has below the cache's UIDNEXT that the cache lacks (their metadata is to be fetched whole), ascending. */
  uncached: Uid[];
}

/**
 * Without CONDSTORE upstream, the only way to learn of flag changes: cached messages' flags
 * compared with upstream's, in ranges of FLAG_SCAN_BATCH messages from the newest down, one
 * `UID FETCH a:b (FLAGS)` each. `known` are all the cached UIDs within `bounds` (every one below
 * the cache's UIDNEXT, for a full sync), and the ranges cover the bounds, so a cached UID a
 * range's answer leaves out is gone. The cached metadata of the next range is read while upstream
 * answers for this one; no more than two ranges' records are held. Flag changes go to `findings`
 * as they are found.
 */
export async function scanFlags(conn: UpstreamConnection, store: CacheStore, fid: string, known: readonly Uid[], bounds: UidRange, findings: SyncFindings): Promise<FlagScan> {
  const expunged: Uid[] = [];
  const uncached: Uid[] = [];
  const startOf = (end: number) => Math.max(0, end - FLAG_SCAN_BATCH);
  const read = (end: number) => store.getMetas(fid, known.slice(startOf(end), end));
  let reading = known.length ? read(known.length) : undefined;
  for (let end = known.length; end > 0; end = startOf(end)) {
    const start = startOf(end);
    const slice = known.slice(start, end);
    const cached = (await reading) as (MessageMeta | undefined)[];
    reading = start > 0 ? read(start) : undefined;
    const from = start === 0 ? bounds[0] : (slice[0] as Uid);
    const to = end === known.length ? bounds[1] : (known[end] as Uid) - 1;
    const listed = new Uint8Array(slice.length);
    await conn.uidFetch(`${from}:${to}`, [atom('FLAGS')], async (fetched) => {
      // an unsolicited FETCH of a message outside the range (a flag change upstream meanwhile) is no answer
      if (!fetched.flags || fetched.uid < from || fetched.uid > to) return;
      const at = indexOfUid(slice, fetched.uid);
      if (at >= 0) listed[at] = 1;
      const old = at >= 0 ? cached[at] : undefined;
      if (!old) {
        uncached.push(fetched.uid);
        return;
      }
      findings.noteFlags(fetched.flags);
      if (!sameFlags(old.flags, fetched.flags)) await findings.flagsChanged(old, fetched.flags);
    });
    for (let i = slice.length - 1; i >= 0; i--) if (!listed[i]) expunged.push(slice[i] as Uid);
  }
  return { expunged: expunged.reverse(), uncached: uncached.sort((a, b) => a - b) };
}

/**
 * Where to look for the flag changes IDLE reported at these sequence numbers, in a list of
 * `count` cached messages numbered as upstream numbers them now: index ranges [from, to), merged.
 */
export function aroundSequences(count: number, seqs: readonly number[]): (readonly [from: number, to: number])[] {
  const windows = seqs.map((seq): UidRange => [Math.max(0, seq - 1 - FLAG_WINDOW_BEFORE), Math.min(count, seq + FLAG_WINDOW_AFTER) - 1]);
  return normalizeRanges(windows.filter(([from, to]) => from <= to)).map(([from, to]) => [from, to + 1]);
}
