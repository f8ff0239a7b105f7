import type { Uid } from '../../model/types.js';
import { indexOfUid } from '../../model/uid-set.js';
import type { FolderGeneration } from '../generation.js';
import { messageKeyBatches } from './key-source.js';
import type { MessageKeys } from './message-keys.js';
import { isNumberKey, sortPositions, type Column, type SortStep } from './sort-program.js';

/**
 * The sort columns of one folder generation, in memory: per message (by its position among the
 * UIDs covered) a number for ARRIVAL, DATE and SIZE and, for a string key, its rank among the
 * folder's values of that key. Typed arrays only: a million messages are a few MB per column.
 * A column is built on first use by one pass over the cached keys (only that key's strings are
 * held meanwhile); an arrival not covered makes a new index at the next SORT.
 */
class SortIndex {
  private readonly columns = new Map<Column, Float64Array | Uint32Array>();

  constructor(readonly uids: Uint32Array) {}

  covers(candidates: readonly Uid[]): boolean {
    return candidates.every((uid) => indexOfUid(this.uids as unknown as Uid[], uid) >= 0);
  }

  async columnsFor(generation: FolderGeneration, wanted: readonly Column[]): Promise<void> {
    const missing = [...new Set(wanted)].filter((column) => !this.columns.has(column));
    if (missing.length === 0) return;
    const numbers = missing.filter(isNumberKey).map((column) => [column, new Float64Array(this.uids.length)] as const);
    const strings = missing.filter((column) => !isNumberKey(column)).map((column) => [column, new Array<string>(this.uids.length).fill('')] as const);
    const uids = [...this.uids];
    let position = 0;
    for await (const batch of messageKeyBatches(generation, uids)) {
      batch.uids.forEach((uid, i) => {
        while (uids[position] !== uid) position++;
        const keys = batch.keys[i] as MessageKeys;
        for (const [column, values] of numbers) values[position] = keys[column];
        for (const [column, values] of strings) values[position] = keys[column as keyof MessageKeys] as string;
      });
    }
    for (const [column, values] of numbers) this.columns.set(column, values);
    for (const [column, values] of strings) this.columns.set(column, ranks(values));
  }

  /** The candidates (ascending, all covered) in the order of the steps. */
  sort(candidates: readonly Uid[], steps: readonly SortStep[]): Uid[] {
    const positions = new Uint32Array(candidates.length);
    let at = 0;
    candidates.forEach((uid, i) => {
      while (this.uids[at] !== uid) at++;
      positions[i] = at;
    });
    const sorted = sortPositions(positions, steps, (column) => this.columns.get(column) as Float64Array | Uint32Array);
    return Array.from(sorted, (position) => this.uids[position] as number);
  }
}

/** Each string's rank among them (equal strings share one); compared as Dovecot does, code unit by code unit. */
function ranks(values: readonly string[]): Uint32Array {
  const order = new Uint32Array(values.length).map((_v, i) => i);
  order.sort((a, b) => {
    const x = values[a] as string;
    const y = values[b] as string;
    return x < y ? -1 : x > y ? 1 : 0;
  });
  const rank = new Uint32Array(values.length);
  let current = 0;
  order.forEach((position, i) => {
    if (i > 0 && values[position] !== values[order[i - 1] as number]) current++;
    rank[position] = current;
  });
  return rank;
}

const indexes = new WeakMap<FolderGeneration, SortIndex>();

/** SORT: the candidate UIDs (ascending) in the order of the sort program. */
export async function sortMessages(generation: FolderGeneration, candidates: readonly Uid[], steps: readonly SortStep[]): Promise<Uid[]> {
  let index = indexes.get(generation);
  if (!index?.covers(candidates)) {
    index = new SortIndex(Uint32Array.from(generation.uids));
    indexes.set(generation, index);
  }
  await index.columnsFor(generation, steps.map((step) => step.column));
  return index.sort(candidates.filter((uid) => indexOfUid(index.uids as unknown as Uid[], uid) >= 0), steps);
}
