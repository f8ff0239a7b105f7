import type { Uid } from './types.js';

/** Compresses ascending UIDs into an IMAP sequence set: [1,2,3,7] -> "1:3,7". */
export function toSequenceSet(uids: readonly Uid[]): string {
  const parts: string[] = [];
  let start = -1;
  let prev = -1;
  for (const uid of uids) {
    if (start < 0) {
      start = prev = uid;
    } else if (uid === prev + 1) {
      prev = uid;
    } else {
      parts.push(start === prev ? `${start}` : `${start}:${prev}`);
      start = prev = uid;
    }
  }
  if (start >= 0) parts.push(start === prev ? `${start}` : `${start}:${prev}`);
  return parts.join(',');
}

export type UidRange = readonly [from: Uid, to: Uid];

/** Parses a UID set of numbers and ranges ("1:3,7") without expanding it: upstream may name huge ranges. */
export function parseUidRanges(set: string): UidRange[] {
  const ranges: UidRange[] = [];
  for (const part of set.split(',')) {
    if (part === '') continue;
    const [a, b] = part.split(':').map(Number);
    if (a === undefined || !Number.isInteger(a)) continue;
    const end = b !== undefined && Number.isInteger(b) ? b : a;
    ranges.push([Math.min(a, end), Math.max(a, end)]);
  }
  return ranges;
}

/** The UIDs of an ascending array that fall inside any of the ranges. */
export function uidsInRanges(sorted: readonly Uid[], ranges: readonly UidRange[]): Uid[] {
  const found = new Set<Uid>();
  for (const [from, to] of ranges) {
    for (let i = lowerBound(sorted, from); i < sorted.length && (sorted[i] as Uid) <= to; i++) found.add(sorted[i] as Uid);
  }
  return [...found].sort((a, b) => a - b);
}

/** Index of uid in an ascending array, or -1. */
export function indexOfUid(sorted: readonly Uid[], uid: Uid): number {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const value = sorted[mid] as Uid;
    if (value === uid) return mid;
    if (value < uid) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/** Index of the first element >= uid in an ascending array (sorted.length if none). */
export function lowerBound(sorted: readonly Uid[], uid: Uid): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as Uid) < uid) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The UIDs at these sequence numbers of a session's ascending UID list; numbers beyond it left out. */
export function uidsAtSequence(uidList: readonly Uid[], seqs: readonly number[]): Uid[] {
  return seqs.map((seq) => uidList[seq - 1]).filter((uid): uid is Uid => uid !== undefined);
}

/** The sequence numbers of these UIDs in a session's ascending UID list; UIDs not in it left out. */
export function sequenceNumbers(uidList: readonly Uid[], uids: readonly Uid[]): number[] {
  return uids.map((uid) => indexOfUid(uidList, uid) + 1).filter((seq) => seq > 0);
}

/** Ranges in ascending order, overlapping and adjacent ones merged. */
export function normalizeRanges(ranges: readonly UidRange[]): UidRange[] {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const merged: [Uid, Uid][] = [];
  for (const [from, to] of sorted) {
    const last = merged[merged.length - 1];
    if (last && from <= last[1] + 1) last[1] = Math.max(last[1], to);
    else merged.push([from, to]);
  }
  return merged;
}

/** The UIDs in both sets of ranges (each normalized), as normalized ranges. */
export function intersectRanges(a: readonly UidRange[], b: readonly UidRange[]): UidRange[] {
  const out: UidRange[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const [aFrom, aTo] = a[i] as UidRange;
    const [bFrom, bTo] = b[j] as UidRange;
    const from = Math.max(aFrom, bFrom);
    const to = Math.min(aTo, bTo);
    if (from <= to) out.push([from, to]);
    if (aTo < bTo) i++;
    else j++;
  }
  return out;
}

/** Ranges as an IMAP sequence set: [[1,3],[7,7]] -> "1:3,7". */
export function rangesToSet(ranges: readonly UidRange[]): string {
  return ranges.map(([from, to]) => (from === to ? `${from}` : `${from}:${to}`)).join(',');
}

/** Whether normalized ranges contain a UID (a binary search). */
export function rangesContain(ranges: readonly UidRange[], uid: Uid): boolean {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const [from, to] = ranges[mid] as UidRange;
    if (uid < from) hi = mid - 1;
    else if (uid > to) lo = mid + 1;
    else return true;
  }
  return false;
}

/** The UIDs from 1 below `limit` that an ascending array lacks, as ranges. */
export function missingBelow(sorted: readonly Uid[], limit: Uid): UidRange[] {
  const gaps: UidRange[] = [];
  let next = 1;
  for (const uid of sorted) {
    if (uid >= limit) break;
    if (uid > next) gaps.push([next, uid - 1]);
    next = uid + 1;
  }
  if (next < limit) gaps.push([next, limit - 1]);
  return gaps;
}

/**
 * The UIDs of `sorted` that are in `wanted`, ascending. Where `wanted` is much the smaller (the
 * messages changed since a modseq, among a `1:*` of 100,000), each is looked up by binary search
 * instead of passing over the whole list.
 */
export function sortedAmong(sorted: readonly Uid[], wanted: ReadonlySet<Uid>): Uid[] {
  if (wanted.size * 16 >= sorted.length) return sorted.filter((uid) => wanted.has(uid));
  const found: Uid[] = [];
  for (const uid of wanted) if (indexOfUid(sorted, uid) >= 0) found.push(uid);
  return found.sort((a, b) => a - b);
}

/** The union of two ascending UID lists, ascending; one of them itself when the other is empty (neither is changed in place). */
export function mergeSorted(a: readonly Uid[], b: readonly Uid[]): Uid[] {
  if (b.length === 0 || a === b) return a as Uid[];
  if (a.length === 0) return b as Uid[];
  const out: Uid[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const x = a[i];
    const y = b[j];
    if (y === undefined || (x !== undefined && x < y)) {
      out.push(x as Uid);
      i++;
    } else if (x === undefined || y < x) {
      out.push(y);
      j++;
    } else {
      out.push(x);
      i++;
      j++;
    }
  }
  return out;
}

/**
 * The UIDs of an ascending list that an ascending stream of UIDs does not name (repeats allowed):
 * one merging pass. While nothing is named, what is missing is the list itself, returned as it is
 * (a cold 1,000,000-message folder costs no copy).
 */
export async function uidsNotIn(sorted: readonly Uid[], present: AsyncIterable<Uid>): Promise<readonly Uid[]> {
  let missing: Uid[] | undefined;
  let i = 0;
  for await (const uid of present) {
    const from = i;
    while (i < sorted.length && (sorted[i] as Uid) < uid) i++;
    if (missing) for (let k = from; k < i; k++) missing.push(sorted[k] as Uid);
    if (sorted[i] === uid) {
      missing ??= sorted.slice(0, i);
      i++;
    }
  }
  if (!missing) return sorted;
  for (; i < sorted.length; i++) missing.push(sorted[i] as Uid);
  return missing;
}
