import { indexOfUid } from '../../model/uid-set.js';
import type { Folder } from '../../sync/folder.js';
import type { ThreadAlgorithm } from '../../sync/sort/threads.js';

/** THREAD / UID THREAD (RFC 5256): the `* THREAD` line for the messages the criteria found (ascending UIDs). */
export async function threadLine(folder: Folder, uidList: readonly number[], found: readonly number[], request: { uid: boolean; algorithm: ThreadAlgorithm }): Promise<string> {
  const threads = await folder.thread(found, request.algorithm, (uid) => (request.uid ? uid : indexOfUid(uidList, uid) + 1));
  return threads ? `* THREAD ${threads}` : '* THREAD';
}
