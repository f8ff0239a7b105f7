import type { Uid } from '../../model/types.js';
import type { FolderGeneration } from '../generation.js';
import { messageKeyBatches } from './key-source.js';
import { InternedStrings } from './interned-strings.js';
import { STRING_KEYS, type MessageKeys, type StringKey } from './message-keys.js';
import { type Column, NUMBER_KEYS, type NumberKey } from './sort-program.js';
import { StringRanks } from './string-ranks.js';
import { valuesAt } from './typed-columns.js';

/** A string key as ranks: equal strings share one, ranks ordered as the strings (code unit by code unit, as Dovecot compares). */
export interface RankColumn {
  /** 16-bit where there are at most 65,536 ranks. */
  ranks: Uint16Array | Uint32Array;
  /** The rank of the empty string ('' is always ranked: a message without keys has it). */
  empty: number;
  /** Ranks are below this. */
  count: number;
}

/** What THREAD needs beyond dates and subjects: Message-IDs and references as interned numbers. */
export interface ThreadColumns {
  replyOrForward: Uint8Array;
  /** -1 where the message has no Message-ID. */
  messageId: Int32Array;
  /** Position p's parents are parents[parentStart[p] .. parentStart[p+1]). */
  parentStart: Uint32Array;
  parents: Int32Array;
  ids: InternedStrings;
}

export type ColumnName = Column | 'thread';

/**
 * The sort and thread keys of one folder generation as columns in memory, by position among its
 * UIDs: typed arrays only (a million messages are a few MB per column), built on first use by one
 * streaming pass over the cached keys. A string column never holds its strings (string-ranks.ts).
 * When the folder changes, the columns follow: values of the UIDs kept are carried
 * over, only new UIDs are read; string ranks are rebuilt after new mail (their order needs the strings).
 */
export class KeyColumns {
  private readonly numbers = new Map<NumberKey, Float64Array>();
  private readonly strings = new Map<StringKey, RankColumn>();
  private threadColumns?: ThreadColumns;
  /** 1 where the message's keys were found (THREAD leaves the others out). */
  readonly known: Uint8Array;

  constructor(readonly uids: Uint32Array) {
    this.known = new Uint8Array(uids.length);
  }

  number(column: NumberKey): Float64Array {
    return this.numbers.get(column) as Float64Array;
  }

  rank(column: StringKey): RankColumn {
    return this.strings.get(column) as RankColumn;
  }

  get thread(): ThreadColumns {
    return this.threadColumns as ThreadColumns;
  }

  /** The positions of the candidates (ascending UIDs); UIDs not covered are left out. */
  positionsOf(candidates: readonly Uid[]): Uint32Array {
    const positions = new Uint32Array(candidates.length);
    let count = 0;
    let at = 0;
    for (const uid of candidates) {
      while (at < this.uids.length && (this.uids[at] as number) < uid) at++;
      if (this.uids[at] === uid) positions[count++] = at;
    }
    return positions.subarray(0, count);
  }

  sameUids(uids: readonly Uid[]): boolean {
    if (uids.length !== this.uids.length) return false;
    for (let i = 0; i < uids.length; i++) if (uids[i] !== this.uids[i]) return false;
    return true;
  }

  /**
   * Builds every sort column not built yet, and the thread columns if wanted, in one pass over
   * the cached keys (a client that sorts by one key tends to sort by others next).
   */
  async load(generation: FolderGeneration, wanted: readonly ColumnName[]): Promise<void> {
    const numbers = NUMBER_KEYS.filter((name) => !this.numbers.has(name));
    const strings = STRING_KEYS.filter((name) => !this.strings.has(name));
    const thread = wanted.includes('thread') && !this.threadColumns;
    if (numbers.length === 0 && strings.length === 0 && !thread) return;
    for (const column of numbers) this.numbers.set(column, new Float64Array(this.uids.length));
    const ranks = strings.map(() => new StringRanks(this.uids.length));
    const parents = thread ? new ThreadBuilder(this.uids.length, new InternedStrings(this.uids.length)) : undefined;
    await this.readKeys(generation, this.uids, (position, keys) => {
      this.known[position] = 1;
      for (const column of numbers) (this.numbers.get(column) as Float64Array)[position] = keys[column];
      strings.forEach((column, i) => ranks[i]?.set(position, keys[column]));
      parents?.set(position, keys);
    });
    for (const [i, column] of strings.entries()) this.strings.set(column, await (ranks[i] as StringRanks).ranks((positions) => this.stringsAt(generation, column, positions)));
    if (parents) this.threadColumns = parents.columns(this.uids.length);
  }

  /** A string key of the messages at the positions (ascending), read again ('' where gone). */
  private async stringsAt(generation: FolderGeneration, column: StringKey, positions: Uint32Array): Promise<string[]> {
    const values = Array.from(positions, () => '');
    await this.readKeys(generation, Uint32Array.from(positions, (position) => this.uids[position] as number), (index, keys) => {
      values[index] = keys[column];
    });
    return values;
  }

  /** The columns for the generation's UIDs now: what is kept carried over, new messages read. */
  async following(generation: FolderGeneration): Promise<KeyColumns> {
    const next = new KeyColumns(Uint32Array.from(generation.uids));
    const from = new Int32Array(next.uids.length).fill(-1);
    let at = 0;
    const added: Uid[] = [];
    next.uids.forEach((uid, position) => {
      while (at < this.uids.length && (this.uids[at] as number) < uid) at++;
      if (this.uids[at] === uid) from[position] = at;
      else added.push(uid);
    });
    from.forEach((old, position) => {
      if (old >= 0) next.known[position] = this.known[old] as number;
    });
    for (const [column, values] of this.numbers) next.numbers.set(column, Float64Array.from(from, (old) => (old >= 0 ? (values[old] as number) : 0)));
    if (added.length === 0) {
      for (const [column, rank] of this.strings) next.strings.set(column, { ...rank, ranks: valuesAt(rank.ranks, from) });
    }
    const thread = this.threadColumns;
    const builder = thread ? new ThreadBuilder(next.uids.length, thread.ids) : undefined;
    if (thread && builder) {
      from.forEach((old, position) => {
        if (old >= 0) builder.copy(position, thread, old);
      });
    }
    if (added.length > 0) {
      const positions = next.positionsOf(added);
      await next.readKeys(generation, Uint32Array.from(added), (index, keys) => {
        const position = positions[index] as number;
        next.known[position] = 1;
        for (const [column, values] of next.numbers) values[position] = keys[column];
        builder?.set(position, keys);
      });
    }
    if (builder) next.threadColumns = builder.columns(next.uids.length);
    return next;
  }

  /** Calls `take` with each message's keys and its index in `uids`, a batch at a time. */
  private async readKeys(generation: FolderGeneration, uids: Uint32Array, take: (index: number, keys: MessageKeys) => void): Promise<void> {
    let index = 0;
    for await (const batch of messageKeyBatches(generation, Array.from(uids) as Uid[])) {
      batch.uids.forEach((uid, i) => {
        while (uids[index] !== uid) index++;
        take(index, batch.keys[i] as MessageKeys);
      });
    }
  }
}

// 1 MB chunks: at and above glibc's mmap threshold (process-settings.ts), given back once spent
const CHUNK_BITS = 18;
const CHUNK_MASK = (1 << CHUNK_BITS) - 1;

/** Thread columns while they are built, in position order. */
class ThreadBuilder {
  private readonly replyOrForward: Uint8Array;
  private readonly messageId: Int32Array;
  /** Each position's parents while positions may come in any order: start and count into the chunks. */
  private readonly start: Uint32Array;
  private readonly count: Uint32Array;
  /** All parents so far, in chunks: no big array doubled and copied as it fills. */
  private readonly chunks: Int32Array[] = [];
  private used = 0;

  constructor(
    length: number,
    private readonly ids: InternedStrings,
  ) {
    this.replyOrForward = new Uint8Array(length);
    this.messageId = new Int32Array(length).fill(-1);
    this.start = new Uint32Array(length);
    this.count = new Uint32Array(length);
  }

  set(position: number, keys: MessageKeys): void {
    this.replyOrForward[position] = keys.replyOrForward ? 1 : 0;
    this.messageId[position] = keys.messageId ? this.ids.intern(keys.messageId) : -1;
    this.addParents(position, keys.parents.map((id) => this.ids.intern(id)));
  }

  copy(position: number, from: ThreadColumns, old: number): void {
    this.replyOrForward[position] = from.replyOrForward[old] as number;
    this.messageId[position] = from.messageId[old] as number;
    this.addParents(position, from.parents.subarray(from.parentStart[old], from.parentStart[old + 1]));
  }

  private addParents(position: number, parents: ArrayLike<number>): void {
    this.start[position] = this.used;
    this.count[position] = parents.length;
    for (let i = 0; i < parents.length; i++) {
      if ((this.used & CHUNK_MASK) === 0) this.chunks.push(new Int32Array(CHUNK_MASK + 1));
      (this.chunks[this.used >>> CHUNK_BITS] as Int32Array)[this.used & CHUNK_MASK] = parents[i] as number;
      this.used++;
    }
  }

  /** The columns, parents laid out in position order. */
  columns(length: number): ThreadColumns {
    const parentStart = new Uint32Array(length + 1);
    for (let p = 0; p < length; p++) parentStart[p + 1] = (parentStart[p] as number) + (this.count[p] as number);
    const parents = new Int32Array(parentStart[length] as number);
    let at = 0;
    for (let p = 0; p < length; p++) {
      const end = (this.start[p] as number) + (this.count[p] as number);
      for (let i = this.start[p] as number; i < end; i++) parents[at++] = (this.chunks[i >>> CHUNK_BITS] as Int32Array)[i & CHUNK_MASK] as number;
    }
    return { replyOrForward: this.replyOrForward, messageId: this.messageId, parentStart, parents, ids: this.ids };
  }
}

const generations = new WeakMap<FolderGeneration, KeyColumns>();
const building = new WeakMap<FolderGeneration, Promise<unknown>>();

/** The generation's key columns, with the ones named built. */
export function keyColumns(generation: FolderGeneration, wanted: readonly ColumnName[]): Promise<KeyColumns> {
  // one build at a time per generation: a SORT or THREAD arriving while columns are built waits
  // for them instead of building the same ones again
  const next = (building.get(generation) ?? Promise.resolve()).then(() => built(generation, wanted));
  building.set(
    generation,
    next.catch(() => undefined),
  );
  return next;
}

async function built(generation: FolderGeneration, wanted: readonly ColumnName[]): Promise<KeyColumns> {
  let columns = generations.get(generation);
  if (!columns) columns = new KeyColumns(Uint32Array.from(generation.uids));
  else if (!columns.sameUids(generation.uids)) columns = await columns.following(generation);
  generations.set(generation, columns);
  await columns.load(generation, wanted);
  return columns;
}
