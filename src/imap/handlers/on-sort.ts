import { sequenceNumbers } from '../../model/uid-set.js';
import type { Folder } from '../../sync/folder.js';
import type { SortStep } from '../../sync/sort/sort-program.js';

/** SORT / UID SORT (RFC 5256): the `* SORT` line for the messages the criteria found (ascending UIDs). */
export async function sortLine(folder: Folder, uidList: readonly number[], found: readonly number[], request: { uid: boolean; steps: SortStep[] }): Promise<string> {
  const sorted = await folder.sort(found, request.steps);
  const numbers = request.uid ? sorted : sequenceNumbers(uidList, sorted);
  return numbers.length ? `* SORT ${numbers.join(' ')}` : '* SORT';
}
