import { sequenceNumbers } from '../../model/uid-set.js';
import type { Folder } from '../../sync/folder.js';
import type { SortStep } from '../../sync/sort/sort-program.js';

/** SORT / UID SORT (RFC 5256): the messages the criteria found (ascending UIDs) in sort order, as the answer numbers them. */
export async function sortedNumbers(folder: Folder, uidList: readonly number[], found: readonly number[], request: { uid: boolean; steps: SortStep[] }): Promise<number[]> {
  const sorted = await folder.sort(found, request.steps);
  return request.uid ? sorted : sequenceNumbers(uidList, sorted);
}

/** The `* SORT` line of a SORT without RETURN. */
export function sortLine(numbers: readonly number[]): string {
  return numbers.length ? `* SORT ${numbers.join(' ')}` : '* SORT';
}
