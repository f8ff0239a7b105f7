import { InternedStrings } from './interned-strings.js';
import type { RankColumn } from './key-columns.js';

/** Code units of each distinct string kept to order it (two per 32-bit word). */
const PREFIX_WORDS = 4;
/** Distinct strings whose order their prefixes leave open are read back this many at a time. */
export const RESOLVE_BATCH = 4096;

/** The strings at positions (ascending), read back from the cache. */
export type StringsAt = (positions: Uint32Array) => Promise<string[]>;

/**
 * A string column while it is built, without holding its strings: each position gets the number
 * of its string (interned by hash), each distinct string keeps its first 8 code units and one
 * position that has it. Ranks come from sorting the distinct strings by prefix; only those
 * sharing a prefix are read back (a batch at a time) to order them by the whole string.
 */
export class StringRanks {
  private readonly interned = new InternedStrings();
  private readonly numbers: Uint32Array;
  private prefixes: Uint32Array = new Uint32Array(PREFIX_WORDS * 1024);
  private holders: Uint32Array = new Uint32Array(1024);

  constructor(length: number) {
    this.numbers = new Uint32Array(length);
    // '' is number 0: positions never set (a message without keys) have it
    this.set(0, '');
  }

  set(position: number, value: string): void {
    const before = this.interned.size;
    const number = this.interned.intern(value);
    this.numbers[position] = number;
    if (this.interned.size > before) this.added(number, position, value);
  }

  /** The column as ranks (16-bit where few enough, else the numbers given turned into ranks in place). */
  async ranks(stringsAt: StringsAt): Promise<RankColumn> {
    const count = this.interned.size;
    const order = Uint32Array.from({ length: count }, (_v, i) => i).sort((a, b) => this.comparePrefixes(a, b) || a - b);
    const rankOf = new Uint32Array(count);
    // groups of equal prefixes, their first rank and members, waiting to be read back
    let pending: { rank: number; members: Uint32Array }[] = [];
    let pendingMembers = 0;
    for (let start = 0; start < count; ) {
      let end = start + 1;
      while (end < count && this.comparePrefixes(order[start] as number, order[end] as number) === 0) end++;
      if (end - start === 1) rankOf[order[start] as number] = start;
      else {
        pending.push({ rank: start, members: order.subarray(start, end) });
        pendingMembers += end - start;
      }
      if (pendingMembers >= RESOLVE_BATCH || (end === count && pendingMembers > 0)) {
        await this.resolve(pending, rankOf, stringsAt);
        pending = [];
        pendingMembers = 0;
      }
      start = end;
    }
    const ranks = count <= 0x10000 ? new Uint16Array(this.numbers.length) : this.numbers;
    for (let p = 0; p < ranks.length; p++) ranks[p] = rankOf[this.numbers[p] as number] as number;
    return { ranks, empty: rankOf[0] as number, count };
  }

  /** Ranks the members of groups sharing a prefix by their whole strings. */
  private async resolve(groups: readonly { rank: number; members: Uint32Array }[], rankOf: Uint32Array, stringsAt: StringsAt): Promise<void> {
    const members = groups.flatMap((group) => Array.from(group.members));
    // number 0 ('') may have no position holding it
    const positions = Uint32Array.from(members.filter((number) => number !== 0), (number) => this.holders[number] as number).sort();
    const read = await stringsAt(positions);
    const byPosition = new Map(Array.from(positions, (position, i) => [position, read[i] ?? '']));
    const stringOf = (number: number) => (number === 0 ? '' : (byPosition.get(this.holders[number] as number) as string));
    for (const { rank, members: group } of groups) {
      const sorted = Array.from(group, (number) => ({ number, value: stringOf(number) })).sort((x, y) => (x.value < y.value ? -1 : x.value > y.value ? 1 : 0));
      sorted.forEach(({ number }, i) => {
        rankOf[number] = rank + i;
      });
    }
  }

  private added(number: number, position: number, value: string): void {
    if (number >= this.holders.length) {
      this.holders = grown(this.holders, this.holders.length * 2);
      this.prefixes = grown(this.prefixes, this.prefixes.length * 2);
    }
    this.holders[number] = position;
    for (let w = 0; w < PREFIX_WORDS; w++) {
      const high = value.charCodeAt(2 * w) || 0;
      const low = value.charCodeAt(2 * w + 1) || 0;
      this.prefixes[number * PREFIX_WORDS + w] = ((high << 16) | low) >>> 0;
    }
  }

  private comparePrefixes(a: number, b: number): number {
    for (let w = 0; w < PREFIX_WORDS; w++) {
      const diff = (this.prefixes[a * PREFIX_WORDS + w] as number) - (this.prefixes[b * PREFIX_WORDS + w] as number);
      if (diff !== 0) return diff;
    }
    return 0;
  }
}

function grown(array: Uint32Array, length: number): Uint32Array {
  const bigger = new Uint32Array(length);
  bigger.set(array);
  return bigger;
}
