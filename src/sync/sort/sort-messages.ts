import type { Uid } from '../../model/types.js';
import type { FolderGeneration } from '../generation.js';
import { keyColumns } from './key-columns.js';
import { isNumberKey, sortPositions, type SortStep } from './sort-program.js';

/** SORT: the candidate UIDs (ascending) in the order of the sort program. */
export async function sortMessages(generation: FolderGeneration, candidates: readonly Uid[], steps: readonly SortStep[]): Promise<Uid[]> {
  const columns = await keyColumns(generation, steps.map((step) => step.column));
  const sorted = sortPositions(columns.positionsOf(candidates), steps, (column) => (isNumberKey(column) ? columns.number(column) : columns.rank(column).ranks));
  return Array.from(sorted, (position) => columns.uids[position] as Uid);
}
